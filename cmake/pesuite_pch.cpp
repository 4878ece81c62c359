// Compiles the shared precompiled header (cmake/Pch.cmake).
