#version 330 core
// The flow warp's velocity field, drawn once per frame into a small float texture that
// warp_feedback.frag samples twice per pixel (the RK2 step). Evaluating the curl noise per
// output pixel was the most expensive part of the chain on a software rasteriser; the field
// is smooth (a few noise cells per image height), so a bilinear lookup into a texture with
// a few dozen texels per cell gives the same velocity to well under a pixel of displacement.
// The texture covers the image plus `field_margin` (in uv) on every side, because the
// midpoint of the RK2 step may look slightly past the edge.
#include "common/warp.glsl"

in vec2 uv;
out vec4 frag_color;

uniform float flow_scale;    // noise cells per image height
uniform float flow_phase;    // position along noise z
uniform float image_aspect;  // of the image the field moves (not of this small texture)
uniform float field_margin;  // uv beyond each edge that the texture covers

void main() {
    vec2 p = uv * (1.0 + 2.0 * field_margin) - field_margin;  // texel -> image uv
    frag_color = vec4(flow_velocity(p, flow_scale, flow_phase, image_aspect), 0.0, 1.0);
}
