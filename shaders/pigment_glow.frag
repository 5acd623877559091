#version 330 core
// Pigment flow, the glow (a quarter of the dye's size, only when bloom is on): the near and
// the wide bloom read from two whole mip levels of the bloom source (pigment_bloom.frag;
// alpha: the bright excess), each in the colour of its neighbourhood, summed here at the
// small size so the output pass takes one tap instead of two (a tap at the output's size
// costs ~1 ms a frame on llvmpipe). uv: GL, bottom-left.
in vec2 uv;
out vec4 frag_color;

uniform sampler2D bloom_source;  // the dye at a quarter size, mipmapped
uniform vec2 bloom_lods;         // the two mip levels read (near, wide)

void main() {
    vec4 near = textureLod(bloom_source, uv, bloom_lods.x);
    vec4 wide = textureLod(bloom_source, uv, bloom_lods.y);
    // colour of the neighbourhood, brightness of its bright excess
    vec3 hue_near = near.rgb / max(max(near.r, max(near.g, near.b)), 1e-4);
    vec3 hue_wide = wide.rgb / max(max(wide.r, max(wide.g, wide.b)), 1e-4);
    frag_color = vec4(0.6 * near.a * hue_near + 0.4 * wide.a * hue_wide, 1.0);
}
