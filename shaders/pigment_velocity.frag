#version 330 core
// Pigment flow, step 1 (reduced grid): the live velocity field, in output heights per second
// (x measured in heights too, so turns are round). The previous field is advected along
// itself by `self_advect` (semi-Lagrangian; 1 = a fluid's momentum, but without the
// projection that builds Burgers shocks: straight hard edges in the dye) and relaxed towards
// a target field at `relax` per second:
//   target = wind + curl noise (drifting, evolving; divergence-free) + point vortices
//            (Lamb-Oseen profile, positions from the CPU, each always turning the same way)
// then this frame's impulses (audio onsets, OSC) kick it outwards from their centres.
// z carries a slow scalar noise field (-1..1) that the dye pass turns into a hue shift of the
// injected content, so pigment from different places carries different colours (cheap here:
// the grid is small).
// uv: GL, bottom-left. Velocity y is up.
#include "common/noise.glsl"

in vec2 uv;
out vec4 frag_color;

uniform sampler2D previous_velocity;
uniform float dt;
uniform float self_advect;      // 0..1: how far the field is carried along itself
uniform float aspect;
uniform float relax_alpha;      // 1 - exp(-relax * dt), computed on the CPU
uniform vec2 wind;              // heights / s
uniform float curl_speed;       // heights / s per unit of curl noise
uniform float curl_scale;       // noise cells per output height
uniform float curl_phase;       // the noise's z, wraps at NOISE_Z_PERIOD
uniform vec2 curl_offset;       // drift of the noise pattern, in noise cells
uniform int vortex_count;
uniform vec4 vortices[6];       // (x uv, y uv, peak speed heights/s signed, radius heights)
uniform int impulse_count;
uniform vec4 impulses[8];       // (x uv, y uv, peak speed heights/s, radius heights)
uniform float hue_scale;        // hue-field noise cells per output height
uniform vec3 hue_offset;        // hue-field drift (x, y in noise cells) and evolution (z)

vec2 height_units(vec2 p) {
    return vec2(p.x * aspect, p.y);
}

void main() {
    vec2 v0 = texture(previous_velocity, uv).xy;
    vec2 back = uv - self_advect * dt * v0 / vec2(aspect, 1.0);
    vec2 v = texture(previous_velocity, back).xy;

    vec2 q = height_units(uv);
    vec2 target = wind;
    if (curl_speed != 0.0) {
        target += curl_speed * curl_noise(q * curl_scale + curl_offset, curl_phase);
    }
    for (int k = 0; k < vortex_count; ++k) {
        vec2 r = q - height_units(vortices[k].xy);
        float rr = dot(r, r);
        float radius = vortices[k].w;
        // Lamb-Oseen: v_theta = (1 - exp(-r^2 / R^2)) / r, peak 0.638 / R at r = 1.121 R.
        float profile = (1.0 - exp(-rr / (radius * radius))) / max(rr, 1e-8) * radius / 0.638;
        target += vortices[k].z * profile * vec2(-r.y, r.x);
    }
    v = mix(v, target, relax_alpha);
    for (int k = 0; k < impulse_count; ++k) {
        vec2 r = q - height_units(impulses[k].xy);
        float radius = impulses[k].w;
        // Outward push, peak speed at r = R / sqrt(2): r / R * exp(-r^2 / R^2) peaks at 0.429.
        v += impulses[k].z * r / radius * exp(-dot(r, r) / (radius * radius)) / 0.4289;
    }
    float hue = clamp(1.6 * gradient_noise_d(vec3(q * hue_scale, 0.0) + hue_offset).x, -1.0, 1.0);
    frag_color = vec4(v, hue, 1.0);
}
