#version 330 core
// Swirl: rotate the sampling point about `centre` by an angle that is largest at the
// centre and falls to zero at `radius` (in image heights), oscillating over time:
//   angle = strength * (1 - smoothstep(0, 1, r / radius)) * cos(2 pi phase)
// where phase = integral of swirl_speed dt (so speed 0 holds a still swirl).
#include "common/uv.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D source;
uniform float strength;  // radians at the centre
uniform float radius;    // image heights
uniform vec2 centre;     // uv, (0,0) bottom-left
uniform float phase;     // turns
uniform float aspect;    // target width / height

void main() {
    vec2 q = to_height_units(uv, centre, aspect);
    float falloff = 1.0 - smoothstep(0.0, 1.0, length(q) / radius);
    float angle = strength * falloff * cos(6.28318530718 * phase);
    vec2 p = from_height_units(rotate2(q, angle), centre, aspect);
    frag_color = vec4(texture(source, mirror_uv(p)).rgb, 1.0);
}
