namespace pesuite::graph { int placeholder() { return 0; } }
