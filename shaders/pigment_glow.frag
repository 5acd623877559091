#version 330 core
// Pigment flow, the glow (a quarter of the dye's size, only when bloom is on): the near and
// the wide bloom read from two whole mip levels of the bloom source (pigment_bloom.frag;
// alpha: the bright excess), each in the colour of its neighbourhood, summed here at the
// small size so the output pass takes one tap instead of two (a tap at the output's size
// costs ~1 ms a frame on llvmpipe). Alpha: the auto exposure's offset in stops, from the
// dye's mean (the source's last level): the output pass adds it to the tone's exposure. It is
// the same everywhere; computed here, at a sixteenth of the pixels, it rides the glow's tap.
// uv: GL, bottom-left.
#include "common/color.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D bloom_source;  // the dye at a quarter size, mipmapped
uniform vec2 bloom_lods;         // the two mip levels read (near, wide)
uniform float mean_lod;          // the source's last mip level: the dye's mean
uniform float exposure;          // the tone's exposure, stops
uniform vec3 auto_exposure;      // (amount 0..1, target mean luma after exposure, range in stops)

void main() {
    vec4 near = textureLod(bloom_source, uv, bloom_lods.x);
    vec4 wide = textureLod(bloom_source, uv, bloom_lods.y);
    // colour of the neighbourhood, brightness of its bright excess
    vec3 hue_near = near.rgb / max(max(near.r, max(near.g, near.b)), 1e-4);
    vec3 hue_wide = wide.rgb / max(max(wide.r, max(wide.g, wide.b)), 1e-4);
    float mean = luma(textureLod(bloom_source, vec2(0.5), mean_lod).rgb) * exp2(exposure);
    float offset = auto_exposure.x * clamp(log2(auto_exposure.y / max(mean, 1e-5)), -auto_exposure.z, auto_exposure.z);
    frag_color = vec4(0.6 * near.a * hue_near + 0.4 * wide.a * hue_wide, offset);
}
