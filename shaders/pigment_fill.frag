#version 330 core
// Pigment flow, step 0 (once per new content frame): the generator's frame filled to the
// pigment's fill size without mirror symmetry or seams (common/fill.glsl). uv: GL, bottom-left.
#include "common/fill.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D content;
uniform int fill_mode;
uniform float tiles;
uniform float border;
uniform float zoom;
uniform float sharpness;
uniform float seed;
uniform float aspect;

void main() {
    frag_color = vec4(fill_sample(content, uv, fill_mode, tiles, border, zoom, sharpness, seed, aspect), 1.0);
}
