#version 330 core
// Swirl warp on its own (the formula is in common/warp.glsl).
#include "common/warp.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D source;
uniform float swirl;  // radians at the centre
uniform float swirl_radius;    // image heights
uniform vec2 swirl_centre;     // uv, (0,0) bottom-left
uniform float swirl_phase;     // turns
uniform float aspect;          // target width / height

void main() {
    vec2 p = swirl_source(uv, swirl, swirl_radius, swirl_centre, swirl_phase, aspect);
    frag_color = vec4(texture(source, mirror_uv(p)).rgb, 1.0);
}
