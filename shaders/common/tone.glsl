// Filmic tone and colour for the pigment output; mirrored exactly by installation/render/tone.py
// (a test compares the two). Order:
//   exposure (stops) -> black point (subtracted from the brightest channel, so empty space is
//   truly dark) -> filmic curve on the brightest channel, colour ratios kept ->
//   saturation about Rec.709 luma -> hue rotation (turns) -> palette tint by luma ->
//   gamut soft clip (pull towards the pixel's luma until every channel is in [0, 1]).
// The curve is a log toe that pivots at black: y = log(1 + v / knee) / log(1 + white / knee),
// so faint structure (v << knee .. v ~ knee) is lifted by up to 1 / (knee log(1 + white / knee))
// instead of being crushed, then a tanh shoulder above `shoulder` rolls y into [0, 1).
// Working on the brightest channel and scaling the colour keeps hue and saturation, and the
// soft clip desaturates instead of clipping a channel: no flat patches of pure colour.
#include "common/color.glsl"

struct Tone {
    float exposure;    // stops
    float black;       // brightest-channel value (after exposure) that maps to black
    float knee;        // black knee: smaller lifts faint values more (0.002 .. 1)
    float white;       // brightest channel value (after exposure) that reaches 1 before the shoulder
    float shoulder;    // where the tanh shoulder starts (0.5 .. 1; 1 = none)
    float saturation;  // 1 = unchanged
    float hue;         // turns about the grey axis
    vec3 shadow_tint;  // palette: colour multiplied into the shadows ...
    vec3 highlight_tint; // ... and the highlights
    float palette;     // 0 = no palette, 1 = full tint
};

float tone_curve(float v, float knee, float white, float shoulder) {
    float y = log(1.0 + max(v, 0.0) / knee) / log(1.0 + white / knee);
    if (y > shoulder && shoulder < 1.0) {
        float s = 1.0 - shoulder;
        y = shoulder + s * tanh((y - shoulder) / s);
    }
    return y;
}

vec3 gamut_soft_clip(vec3 c) {
    float l = clamp(luma(c), 0.0, 1.0);
    float hi = max(max(c.r, c.g), c.b);
    float lo = min(min(c.r, c.g), c.b);
    float t = 1.0;  // how much of the chroma (c - l) survives
    if (hi > 1.0) t = min(t, (1.0 - l) / max(hi - l, 1e-6));
    if (lo < 0.0) t = min(t, l / max(l - lo, 1e-6));
    return clamp(l + (c - l) * t, 0.0, 1.0);
}

vec3 apply_tone(vec3 c, Tone t) {
    c = max(c, vec3(0.0)) * exp2(t.exposure);
    float v = max(max(c.r, c.g), c.b);
    c *= tone_curve(v - t.black, t.knee, t.white, t.shoulder) / max(v, 1e-6);
    float l = luma(c);
    c = l + (c - l) * t.saturation;
    if (t.hue != 0.0) c = rotate_hue(c, t.hue);
    if (t.palette != 0.0) {
        vec3 tint = mix(t.shadow_tint, t.highlight_tint, smoothstep(0.0, 0.6, l));
        c = mix(c, c * tint, t.palette);
    }
    return gamut_soft_clip(c);
}
