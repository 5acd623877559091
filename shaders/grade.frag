#version 330 core
// Colour grade, in this order (mirrored by the numpy reference in tests/test_render_passes.py):
//   exposure (stops) -> contrast about 0.5 -> saturation about Rec.709 luma ->
//   hue rotation about the grey axis (turns) -> clamp to [0,1] -> gamma (c^(1/gamma),
//   so gamma > 1 brightens) -> vignette (darken by vignette * d^2, d = 0 centre .. 1 corner).
#include "common/color.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D source;
uniform float exposure;
uniform float contrast;
uniform float saturation;
uniform float hue;
uniform float gamma;
uniform float vignette;
uniform float aspect;

void main() {
    vec3 c = texture(source, uv).rgb;
    c *= exp2(exposure);
    c = (c - 0.5) * contrast + 0.5;
    c = mix(vec3(luma(c)), c, saturation);
    c = rotate_hue(c, hue);
    c = clamp(c, 0.0, 1.0);
    c = pow(c, vec3(1.0 / gamma));
    vec2 q = (uv - 0.5) * vec2(aspect, 1.0);
    float d2 = dot(q, q) / dot(vec2(0.5 * aspect, 0.5), vec2(0.5 * aspect, 0.5));
    c *= 1.0 - vignette * d2;
    frag_color = vec4(clamp(c, 0.0, 1.0), 1.0);
}
