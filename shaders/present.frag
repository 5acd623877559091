#version 330 core
// Window output: draw the finished frame into the (letterboxed) viewport.
in vec2 uv;
out vec4 frag_color;

uniform sampler2D frame;

void main() {
    frag_color = vec4(texture(frame, uv).rgb, 1.0);
}
