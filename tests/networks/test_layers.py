"""Channels-last layers: the NCHW numbers to float32 rounding, the real weights untouched,
the switch off wherever autograd records, and per thread."""
import threading

import pytest
import torch

from networks import build_model
from networks.amt import VARIANTS
from networks.blocks.layers import Conv2d, ConvTranspose2d, channels_last
from networks.plan import CPU_PLAN, as_published

CL = torch.channels_last


def _is_nhwc(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=CL) and not x.is_contiguous()


@pytest.mark.parametrize("layer", [Conv2d(6, 5, 3, 1, 1), Conv2d(6, 5, 1, 2),
                                   ConvTranspose2d(6, 5, 4, 2, 1)])
def test_layers_run_nhwc_with_the_nchw_numbers(layer):
    x = torch.randn(2, 6, 17, 23)
    with torch.no_grad():
        ref = layer(x)
        with channels_last():
            out = layer(x)
            # a 1x1 kernel is laid out alike either way: the input's layout decides
            nhwc_in = layer(x.contiguous(memory_format=CL))
    assert _is_nhwc(nhwc_in) and not _is_nhwc(ref)
    assert _is_nhwc(out) == (layer.kernel_size != (1, 1))
    assert (nhwc_in - ref).abs().max() <= 1e-5
    assert (out - ref).abs().max() <= 1e-5
    assert layer.weight.is_contiguous()  # the parameter itself is never changed


def test_the_weight_copy_follows_the_weight():
    layer = Conv2d(4, 4, 3, 1, 1)
    x = torch.randn(1, 4, 9, 9)
    with torch.no_grad(), channels_last():
        before = layer(x)
        layer.weight.mul_(2)  # an optimizer step changes the weight in place
        after = layer(x)
        layer.load_state_dict({"weight": torch.zeros_like(layer.weight), "bias": layer.bias})
        zeroed = layer(x)
    assert (after - layer.bias.view(1, -1, 1, 1) - 2 * (before - layer.bias.view(1, -1, 1, 1))
            ).abs().max() <= 1e-5
    assert (zeroed - layer.bias.view(1, -1, 1, 1)).abs().max() == 0


def test_autograd_sees_the_real_weights():
    layer = Conv2d(3, 4, 3, 1, 1)
    x = torch.randn(1, 3, 8, 8)
    with channels_last():  # a training step inside the switch: NCHW, gradients flow
        out = layer(x)
        out.sum().backward()
    assert not _is_nhwc(out)
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_the_switch_is_per_thread():
    layer = Conv2d(3, 4, 3, 1, 1)
    x = torch.randn(1, 3, 8, 8)
    seen = []

    def other() -> None:
        with torch.no_grad():
            seen.append(_is_nhwc(layer(x)))

    with torch.no_grad(), channels_last():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert _is_nhwc(layer(x))
    assert seen == [False]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_cpu_plan_computes_the_published_plans_frames(variant):
    # NHWC layers and the pooled-feature pyramid against the published execution, whole
    # network, random weights (the bundled frames' check is the speed table's).
    torch.manual_seed(0)
    model = build_model(variant, corr_mode="dense").eval()
    img0, img1 = torch.rand(2, 1, 3, 128, 160)
    outs = {}
    with torch.inference_mode():
        for name, plan in (("fast", CPU_PLAN), ("published", as_published(CPU_PLAN))):
            model.plan = plan
            outs[name] = model(img0, img1, 0.5)["imgt_pred"]
    assert (outs["fast"] - outs["published"]).abs().max() <= 2e-5
    assert all(p.is_contiguous() for p in model.parameters())


def test_under_autocast_the_copies_are_made_once_in_its_dtype():
    layer = Conv2d(6, 5, 3, 1, 1)
    x = torch.randn(1, 6, 12, 12)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref = layer(x)
        with channels_last():
            out = layer(x)
            again = layer(x)
    assert out.dtype == ref.dtype == torch.bfloat16 and _is_nhwc(out)
    # the same bf16 products as autocast's own casts, summed in another order
    assert (out.float() - ref.float()).abs().max() <= 2e-2 * ref.float().abs().max()
    assert torch.equal(out, again)
    weight, bias = layer.__dict__["_channels_last_parameters"][1]
    assert weight.dtype == bias.dtype == torch.bfloat16


def test_instance_norm_keeps_nhwc_with_the_nchw_numbers():
    from networks.blocks.layers import InstanceNorm2d
    norm = InstanceNorm2d(5)
    x = torch.randn(2, 5, 33, 47) * 3 + 1
    exact = torch.nn.functional.instance_norm(x.double())
    with torch.no_grad():
        ref = norm(x)
        with channels_last():
            out = norm(x.contiguous(memory_format=CL))
            as_is = norm(x)  # NCHW input: PyTorch's own kernel
    assert _is_nhwc(out)
    assert torch.equal(as_is, ref)
    assert (out.double() - exact).abs().max() <= 2e-6
    assert (ref.double() - exact).abs().max() <= 2e-6


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("batch", [1, 3])
def test_low_precision_instance_norm_keeps_nhwc(dtype, batch):
    # PyTorch's kernel returns NCHW here too: every convolution after it would copy
    from networks.blocks.layers import InstanceNorm2d
    norm = InstanceNorm2d(6)
    x = (torch.randn(batch, 6, 21, 30) * 3 + 1).to(dtype).contiguous(memory_format=CL)
    exact = torch.nn.functional.instance_norm(x.double())
    with torch.no_grad(), channels_last():
        out = norm(x)
    assert _is_nhwc(out) and out.dtype == dtype
    ref = torch.nn.functional.instance_norm(x)  # PyTorch's own low-precision kernel
    # as close to the exact normalisation as PyTorch's kernel, and within three units in
    # the last place of the dtype over |y| < 4
    err, kernel_err = (out.double() - exact).abs().max(), (ref.double() - exact).abs().max()
    assert err <= 1.25 * kernel_err
    assert err <= 3 * (2.0 ** -6 if dtype == torch.bfloat16 else 2.0 ** -9)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("init", [0.25, -0.3, 0.999])
def test_low_precision_prelu_is_prelu_in_nhwc(dtype, init):
    from networks.blocks.layers import PReLU
    layer = PReLU(5, init=init)
    with torch.no_grad():
        layer.weight[0] = -1.0  # a negative slope and one of exactly 1 (identity)
        layer.weight[1] = 1.0
    x = torch.randn(2, 5, 13, 17).to(dtype).contiguous(memory_format=CL)
    x[0, 2, 0, :3] = torch.tensor([0.0, -0.0, float("inf")])
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype), channels_last():
        with pytest.MonkeyPatch.context() as mp:  # the fast path, not PyTorch's kernel
            mp.setattr(torch.nn.functional, "prelu", lambda *a: pytest.fail("kernel called"))
            out = layer(x)
    ref = torch.nn.functional.prelu(x, layer.weight.detach().to(dtype))
    assert _is_nhwc(out) and out.dtype == dtype
    assert torch.equal(out, ref)  # the same function with the same rounding
    # another width (the repeated weights follow it) and a layer with one weight
    single = PReLU(1, init=init)
    narrow = x[..., :6].contiguous(memory_format=CL)
    with torch.no_grad(), torch.autocast("cpu", dtype=dtype), channels_last():
        assert torch.equal(layer(narrow), torch.nn.functional.prelu(narrow, layer.weight.to(dtype)))
        assert torch.equal(single(x), torch.nn.functional.prelu(x, single.weight.to(dtype)))


def test_prelu_with_a_zero_weight_or_another_dtype_keeps_the_kernel():
    from networks.blocks.layers import PReLU
    layer = PReLU(3)
    with torch.no_grad():
        layer.weight[1] = 0.0  # max(x, 0 * x) would make 0 * inf a NaN
    x = torch.randn(1, 3, 5, 6).bfloat16().contiguous(memory_format=CL)
    x[0, 1, 0, 0] = float("inf")
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), channels_last():
        out = layer(x)
        other = layer(x.half())  # autocast runs PReLU in its own dtype, not the input's
    assert out[0, 1, 0, 0] == float("inf")
    assert torch.equal(out, torch.nn.functional.prelu(x, layer.weight.bfloat16()))
    assert other.dtype == torch.bfloat16


def test_prelu_with_a_weight_above_one_keeps_the_kernel():
    from networks.blocks.layers import PReLU
    layer = PReLU(4)
    with torch.no_grad():
        layer.weight[3] = 1.5  # max(x, w x) would be wrong for this channel
    x = torch.randn(1, 4, 9, 11).bfloat16().contiguous(memory_format=CL)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16), channels_last():
        out = layer(x)
        layer.weight.fill_(0.5)  # the check follows the weight
        again = layer(x)
    assert torch.equal(out, torch.nn.functional.prelu(x, torch.tensor([0.25, 0.25, 0.25, 1.5]
                                                                      ).bfloat16()))
    assert torch.equal(again, torch.nn.functional.prelu(x, torch.full((4,), 0.5).bfloat16()))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_layer_of_the_network_is_a_layout_layer(variant):
    # nn.Conv2d / nn.PReLU / nn.InstanceNorm2d themselves would miss the NHWC paths
    from networks.blocks import layers
    model = build_model(variant)
    plain = {torch.nn.Conv2d: layers.Conv2d, torch.nn.ConvTranspose2d: layers.ConvTranspose2d,
             torch.nn.PReLU: layers.PReLU, torch.nn.InstanceNorm2d: layers.InstanceNorm2d}
    for name, module in model.named_modules():
        for base, ours in plain.items():
            if isinstance(module, base):
                assert isinstance(module, ours), name


def test_the_copies_are_not_copied_or_pickled(tmp_path):
    import copy
    layer = Conv2d(3, 4, 3, 1, 1)
    with torch.no_grad(), channels_last():
        layer(torch.randn(1, 3, 8, 8))
    assert "_channels_last_parameters" in layer.__dict__
    assert "_channels_last_parameters" not in copy.deepcopy(layer).__dict__
    torch.save(layer, tmp_path / "layer.pt")
    loaded = torch.load(tmp_path / "layer.pt", weights_only=False)
    assert "_channels_last_parameters" not in loaded.__dict__
    assert "_channels_last_parameters" in layer.__dict__  # the original keeps its copies


def test_parameters_made_in_inference_mode_run_nchw():
    with torch.inference_mode():
        layer = Conv2d(3, 4, 3, 1, 1)  # inference tensors have no version counter
        x = torch.randn(1, 3, 8, 8)
        with channels_last():
            out = layer(x)
    assert not _is_nhwc(out)
    assert torch.equal(out, torch.nn.functional.conv2d(x, layer.weight, layer.bias, 1, 1))


def test_a_captured_graph_does_not_break_on_the_layout():
    # While a graph is captured the network enters no layout context: a context manager that
    # sets the switch breaks torch.compile's graph (the layers run NCHW there anyway).
    import torch._dynamo
    from networks.amt import AMT
    layer = Conv2d(3, 4, 3, 1, 1)

    def step(x):
        with AMT._layout(CPU_PLAN):
            return layer(x) * 2

    torch._dynamo.reset()
    explained = torch._dynamo.explain(step)(torch.randn(1, 3, 8, 8))
    assert explained.graph_break_count == 0 and explained.graph_count == 1


def test_cat_channels_builds_the_concatenation_nhwc_for_the_next_convolution():
    from networks.blocks.layers import cat_channels
    parts = [torch.randn(2, 3, 5, 7), torch.randn(2, 4, 5, 7).contiguous(memory_format=CL),
             torch.randn(2, 1, 5, 7).bfloat16()]
    ref = torch.cat(parts, dim=1)
    assert torch.equal(cat_channels(parts), ref) and ref.dtype == torch.float32  # switch off
    with torch.no_grad(), channels_last():
        out = cat_channels(parts)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = cat_channels(parts)
    assert _is_nhwc(out) and torch.equal(out, ref)
    # under autocast: the bf16 cast the convolution would make of the float32 concatenation
    assert _is_nhwc(low) and low.dtype == torch.bfloat16 and torch.equal(low, ref.bfloat16())


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit.trace is deprecated
def test_a_resblock_traces_alike_with_and_without_autograd():
    # torch.jit.trace checks its graph by running it again under no_grad: the in-place tail
    # refinement (outside autograd) must not make the two graphs differ
    from networks.blocks.decoders import ResBlock
    block = ResBlock(12, 4).eval()
    x = torch.randn(1, 12, 9, 10)
    traced = torch.jit.trace(block, (x,))
    with torch.no_grad():
        assert (traced(x) - block(x)).abs().max() <= 1e-6


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decoder_one_hands_on_nchw_parts_under_the_cpu_plan(dtype):
    # Its head's sums take their first operand's (NCHW) layout, so the warps read flows
    # without a transposing copy; a change of that rule would only cost speed, caught here.
    # In bf16 the masks and residuals are NCHW copies too: a bf16 channel slice of the NHWC
    # output is slow to read.
    torch.manual_seed(0)
    model = build_model("AMT-S", corr_mode="dense").eval()
    model.plan = CPU_PLAN
    seen = []
    model.decoder1.register_forward_hook(lambda mod, args, out: seen.append(out))
    img0, img1 = torch.rand(2, 1, 3, 128, 160)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                enabled=dtype == torch.bfloat16):
        model(img0, img1, 0.5)
    flow0, flow1, mask, res = seen[0]
    assert flow0.is_contiguous() and flow1.is_contiguous()
    assert flow0.shape == flow1.shape == (1, 2 * model.num_flows, 128, 160)
    if dtype == torch.bfloat16:
        assert mask.dtype == res.dtype == torch.bfloat16
        assert mask.is_contiguous() and res.is_contiguous()
