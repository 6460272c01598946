"""`appkit deploy` of a package holding a 10M-parameter model, as a whole process, beside `cp -r` of
the same package; its peak memory beside 3x the weight bytes plus the interpreter; bundle size.

The model is an ONNX MLP (1000 -> 3000 -> 2500 -> 10, relu; 10.5M float weights, seeded), used
through onnx_vespa(), so deploying imports it, lowers it to expressions and writes its constants.
Run: python benchmarks/deploy.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _proc import measure, row  # noqa: E402

PY = sys.executable
SIZES = (1000, 3000, 2500, 10)


def make_package(root: Path) -> int:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    nodes, inits, prev, weights = [], [], "input", 0
    for i, (a, b) in enumerate(zip(SIZES, SIZES[1:])):
        w = rng.normal(0, 0.02, (a, b)).astype(np.float32)
        bias = rng.normal(0, 0.02, (b,)).astype(np.float32)
        weights += w.size + bias.size
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(bias, f"B{i}")]
        nodes += [helper.make_node("MatMul", [prev, f"W{i}"], [f"mm{i}"], name=f"mm{i}"),
                  helper.make_node("Add", [f"mm{i}", f"B{i}"], [f"z{i}"], name=f"add{i}")]
        prev = f"z{i}"
        if i < len(SIZES) - 2:
            nodes.append(helper.make_node("Relu", [prev], [f"h{i}"], name=f"relu{i}"))
            prev = f"h{i}"
    nodes.append(helper.make_node("Identity", [prev], ["score"], name="score"))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, SIZES[0]])],
                              [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1, SIZES[-1]])], inits)
    (root / "models").mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), root / "models" / "mlp.onnx")
    (root / "schemas").mkdir()
    (root / "services.xml").write_text("""<services version="1.0">
    <container id="default" version="1.0"><search/></container>
    <content id="main" version="1.0">
        <redundancy>1</redundancy>
        <documents><document type="doc" mode="index"/></documents>
        <nodes><node hostalias="node1" distribution-key="0"/></nodes>
    </content>
</services>
""")
    (root / "schemas" / "doc.sd").write_text(f"""schema doc {{
    document doc {{
        field features type tensor<float>(d0[1],d1[{SIZES[0]}]) {{
            indexing: attribute
        }}
    }}
    rank-profile mlp {{
        function input() {{
            expression: attribute(features)
        }}
        first-phase {{
            expression: sum(onnx_vespa("mlp.onnx"))
        }}
    }}
}}
""")
    return weights


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "package"
        weights = make_package(package)
        weight_mb = weights * 4 / 2**20
        print(f"package: {size_of(package) / 2**20:.1f} MB, {weights / 1e6:.1f}M float weights ({weight_mb:.1f} MB)\n")
        copy_t, _ = measure(["cp", "-r", str(package), str(Path(tmp) / "copy")], runs=5, cwd=Path(tmp))
        shutil.rmtree(Path(tmp) / "copy", ignore_errors=True)
        store = Path(tmp) / "store"
        deploy = [PY, "-m", "appkit", "deploy", str(package), "--target", str(store), "--keep", "2"]
        deploy_t, deploy_m = measure(deploy, runs=3)
        _, interp_m = measure([PY, "-c", "import numpy, onnx, lark, lxml.etree, rich"], runs=3)
        bundle = Path(tmp) / "bundle.zip"
        measure([PY, "-m", "appkit", "deploy", str(package), "--bundle-only", "-o", str(bundle)], runs=1)
        floor_t, _ = measure([PY, "-c", "import numpy, onnx"], runs=5)
        print(row("appkit deploy (validate, import, compile, publish) vs cp -r", deploy_t, copy_t, 5))
        # what no Python deploy can go below: starting the interpreter with the libraries that read
        # an ONNX model and write tensors, before a byte of the package is read
        print(row("  python -c 'import numpy, onnx' vs cp -r", floor_t, copy_t, None))
        print(row("  appkit deploy vs that start-up", deploy_t, floor_t, None))
        budget = 3 * weight_mb + interp_m
        print(f"{'peak memory of the deploy vs 3x weights + interpreter':<58} {deploy_m:9.1f} MB  vs {budget:9.1f} MB  "
              f"(3 x {weight_mb:.1f} + {interp_m:.1f}) {'ok' if deploy_m <= budget else 'MISSES'}")
        print(f"{'bundle (zip) size vs package size':<58} {size_of(bundle) / 2**20:9.1f} MB  vs "
              f"{size_of(package) / 2**20:9.1f} MB  ratio {size_of(bundle) / size_of(package):.2f}x")


if __name__ == "__main__":
    main()
