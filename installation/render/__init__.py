"""GL: the window (headless or glfw), shader loading, the passes and the composed chain."""
