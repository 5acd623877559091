#version 330 core
// One triangle that covers the whole target; no vertex buffer: the corners come from
// gl_VertexID (draw 3 vertices). The visible part of the triangle spans uv 0..1.
// uv follows GL: (0, 0) is the bottom-left of the image (see installation/render/window.py).
out vec2 uv;

void main() {
    vec2 corner = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));  // (0,0) (2,0) (0,2)
    uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
