// Placeholder until the first OpenCV loader lands; keeps the target non-empty.
namespace pesuite::imageio { int placeholder() { return 0; } }
