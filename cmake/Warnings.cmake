# pesuite_warnings(target): the project's warning set, applied to our own targets only.
function(pesuite_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
endfunction()
