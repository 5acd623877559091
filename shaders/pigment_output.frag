#version 330 core
// Pigment flow, the output pass: the dye lit as a surface (sheen: normals from its luma
// gradient, taken with dFdx/dFdy: no extra taps; a diffuse term and a specular glint), plus
// bloom read from the dye's own mipmaps (alpha holds the bright excess the dye pass wrote; two
// whole levels, one near and one wide: bilinear, not trilinear), then the filmic tone of
// common/tone.glsl. uv: GL, bottom-left. SHEEN and BLOOM are compiled in by #define
// (PigmentFlow picks the variant), so a part that is off costs nothing.
#include "common/tone.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D dye;
uniform float sheen;          // 0 = flat; 1 = full diffuse relief
uniform float sheen_height;   // luma gradient (per pixel of this pass) -> surface slope
uniform float glint;          // specular strength
uniform float bloom;          // bloom added
uniform vec2 bloom_lods;      // the two mip levels the bloom reads (near, wide)
uniform Tone tone;

void main() {
    vec3 c = textureLod(dye, uv, 0.0).rgb;
#ifdef SHEEN
    {
        float l = luma(c);
        // Per 2x2 quad on llvmpipe: the relief is a little coarser than 2 taps would give, for free.
        vec3 n = normalize(vec3(-2.0 * sheen_height * vec2(dFdx(l), dFdy(l)), 1.0));
        const vec3 light = vec3(-0.48, 0.6, 0.64);      // from the upper left, normalised
        const vec3 halfway = vec3(-0.2722, 0.3403, 0.9);  // normalize(light + view (0, 0, 1))
        float diffuse = max(dot(n, light), 0.0) / light.z;
        c *= mix(1.0, diffuse, sheen);
        float h = max(dot(n, halfway), 0.0);
        float h8 = h * h;
        h8 *= h8;
        h8 *= h8;
        c += glint * h8 * h8 * h8 * (0.25 + c);  // h^40
    }
#endif
#ifdef BLOOM
    {
        vec4 near = textureLod(dye, uv, bloom_lods.x);
        vec4 wide = textureLod(dye, uv, bloom_lods.y);
        // colour of the neighbourhood, brightness of its bright excess
        vec3 hue_near = near.rgb / max(max(near.r, max(near.g, near.b)), 1e-4);
        vec3 hue_wide = wide.rgb / max(max(wide.r, max(wide.g, wide.b)), 1e-4);
        c += bloom * (0.6 * near.a * hue_near + 0.4 * wide.a * hue_wide);
    }
#endif
    frag_color = vec4(apply_tone(c, tone), 1.0);
}
