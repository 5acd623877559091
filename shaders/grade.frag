#version 330 core
// Colour grade, in this order (mirrored by the numpy reference in tests/test_render_passes.py):
//   exposure (stops) -> contrast about 0.5 -> saturation about Rec.709 luma ->
//   hue rotation about the grey axis (turns) -> clamp to [0,1] -> gamma (c^(1/gamma),
//   so gamma > 1 brightens) -> vignette (darken by vignette * d^2, d = 0 centre .. 1 corner).
// The first four steps are affine in c, so GradePass composes them on the CPU into one
// matrix and offset (`grade_matrix`, `grade_offset`; see grade_affine() in passes.py and the
// formulas in common/color.glsl): per pixel that is 9 multiply-adds instead of an exp2, a
// cos and a sin, which matters on a software rasteriser. It also draws at the output size
// from a smaller feedback history when the chain's render_scale < 1 (a free bilinear upscale).

in vec2 uv;
out vec4 frag_color;

uniform sampler2D source;
uniform mat3 grade_matrix;    // exposure, contrast, saturation and hue as one linear map
uniform vec3 grade_offset;    // ... and its constant part
uniform float inv_gamma;      // 1 / gamma
uniform float vignette_scale; // vignette / d^2 of a corner
uniform float aspect;

void main() {
    vec3 c = grade_matrix * texture(source, uv).rgb + grade_offset;
    c = clamp(c, 0.0, 1.0);
    if (inv_gamma != 1.0) {
        c = pow(c, vec3(inv_gamma));
    }
    vec2 q = (uv - 0.5) * vec2(aspect, 1.0);
    c *= 1.0 - vignette_scale * dot(q, q);
    frag_color = vec4(clamp(c, 0.0, 1.0), 1.0);
}
