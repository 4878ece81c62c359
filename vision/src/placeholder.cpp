namespace pesuite::vision { int placeholder() { return 0; } }
