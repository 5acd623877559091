// Filling the screen from one small generator frame without a kaleidoscope. uv follows GL:
// (0, 0) is the bottom-left of the output and of the content texture (rows are flipped on upload).
// Every mode first crops `border` texels off each edge of the content (a generator's edge rows
// and columns carry padding artefacts that read as seams when tiled), then samples the inner
// region with a Catmull-Rom bicubic (9 bilinear taps), or with one bilinear tap where the
// fill does not magnify the content (FILL_BILINEAR defined: the bicubic's sharpness would not
// show, and it is 4x cheaper):
//   FILL_COVER (0):  one frame, aspect kept, scaled to cover the output (the longer side cropped).
//   FILL_TILES (1):  `tiles` cells per output height; each cell shows a window of the frame
//                    (`zoom` content heights per cell) turned by a random angle about a random
//                    centre; the 4 cells around a point are blended with tent weights raised to
//                    `sharpness` (a soft seam, no mirror symmetry, no exact repeat).
//   FILL_MIRROR (2): the old 'tile' fit: `tiles` mirrored copies span the height.
#include "common/uv.glsl"
#include "common/noise.glsl"

const int FILL_COVER = 0;
const int FILL_TILES = 1;
const int FILL_MIRROR = 2;

// Catmull-Rom bicubic of `tex` at uv, from 9 bilinear taps (the 4x4 footprint's middle pair
// of weights merged into one tap per axis). Negative lobes can overshoot below 0: clamped.
vec3 sample_catmull_rom(sampler2D tex, vec2 uv, vec2 size) {
    vec2 sample_pos = uv * size;
    vec2 p1 = floor(sample_pos - 0.5) + 0.5;
    vec2 f = sample_pos - p1;
    vec2 w0 = f * (-0.5 + f * (1.0 - 0.5 * f));
    vec2 w1 = 1.0 + f * f * (-2.5 + 1.5 * f);
    vec2 w2 = f * (0.5 + f * (2.0 - 1.5 * f));
    vec2 w3 = f * f * (-0.5 + 0.5 * f);
    vec2 w12 = w1 + w2;
    vec2 p0 = (p1 - 1.0) / size;
    vec2 p3 = (p1 + 2.0) / size;
    vec2 p12 = (p1 + w2 / w12) / size;
    vec3 c = vec3(0.0);
    c += texture(tex, vec2(p0.x, p0.y)).rgb * w0.x * w0.y;
    c += texture(tex, vec2(p12.x, p0.y)).rgb * w12.x * w0.y;
    c += texture(tex, vec2(p3.x, p0.y)).rgb * w3.x * w0.y;
    c += texture(tex, vec2(p0.x, p12.y)).rgb * w0.x * w12.y;
    c += texture(tex, vec2(p12.x, p12.y)).rgb * w12.x * w12.y;
    c += texture(tex, vec2(p3.x, p12.y)).rgb * w3.x * w12.y;
    c += texture(tex, vec2(p0.x, p3.y)).rgb * w0.x * w3.y;
    c += texture(tex, vec2(p12.x, p3.y)).rgb * w12.x * w3.y;
    c += texture(tex, vec2(p3.x, p3.y)).rgb * w3.x * w3.y;
    return max(c, vec3(0.0));
}

// Sample the cropped inner region at inner uv u (0..1 spans the region without its border).
vec3 sample_inner(sampler2D tex, vec2 u, float border) {
    vec2 size = vec2(textureSize(tex, 0));
    vec2 inner = max(size - 2.0 * border, vec2(1.0));
    // Stop at the outermost kept texel centres (the bicubic footprint reaches 1.5 texels past
    // them, into the cropped rows, only with its small negative lobes).
    vec2 pos = clamp(border + u * inner, vec2(border + 0.5), size - border - 0.5);
#ifdef FILL_BILINEAR
    return texture(tex, pos / size).rgb;
#else
    return sample_catmull_rom(tex, pos / size, size);
#endif
}

// Random numbers in [0, 1)^3 for a tile cell and a seed.
vec3 cell_random(vec2 cell, float seed) {
    uvec3 h = pcg3d(uvec3(ivec3(int(cell.x) + 4096, int(cell.y) + 4096, int(seed))));
    return vec3(h) / 4294967296.0;
}

vec3 fill_sample(sampler2D tex, vec2 p, int mode, float tiles, float border, float zoom, float sharpness,
                 float seed, float aspect) {
    vec2 size = vec2(textureSize(tex, 0));
    vec2 inner = max(size - 2.0 * border, vec2(1.0));
    float content_aspect = inner.x / inner.y;
    vec2 q = to_height_units(p, vec2(0.5), aspect);  // output, in output heights about the centre
    if (mode == FILL_MIRROR) {
        return sample_inner(tex, mirror_uv(0.5 + q * tiles / vec2(content_aspect, 1.0)), border);
    }
    if (mode == FILL_TILES) {
        vec2 g = q * tiles;
        vec2 base = floor(g - 0.5);
        // Largest distance of a sample from its cell centre is sqrt(2) cells; what is left of
        // the half-frame after that is the room for a random centre.
        vec2 room = max(vec2(0.5 * content_aspect, 0.5) - 1.4143 * zoom, vec2(0.0));
        vec3 sum = vec3(0.0);
        float total = 0.0;
        for (int j = 0; j < 2; ++j) {
            for (int i = 0; i < 2; ++i) {
                vec2 cell = base + vec2(i, j);
                vec2 d = g - (cell + 0.5);
                vec2 tent = max(1.0 - abs(d), 0.0);
                float w = pow(tent.x * tent.y, sharpness);
                vec3 r = cell_random(cell, seed);
                vec2 c = rotate2(d * zoom, 6.28318530718 * r.x) + (r.yz * 2.0 - 1.0) * room;
                sum += w * sample_inner(tex, 0.5 + c / vec2(content_aspect, 1.0), border);
                total += w;
            }
        }
        return sum / max(total, 1e-6);
    }
    // FILL_COVER
    float k = aspect > content_aspect ? content_aspect / aspect : 1.0;
    return sample_inner(tex, 0.5 + q * k / vec2(content_aspect, 1.0), border);
}
