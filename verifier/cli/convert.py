"""``verifier convert NETWORK SPEC -o QUERY``: a VNN-LIB 1.0 property as a 2.0 query."""

from __future__ import annotations

from verifier.files import check_output_file, write_text_atomic


def add_parser(subparsers) -> None:
    c = subparsers.add_parser(
        "convert", help="write a VNN-LIB 1.0 property as a VNN-LIB 2.0 query",
        description="Write the 1.0 property SPEC of the network NETWORK as a VNN-LIB 2.0 "
                    "query over one network (declared shapes from the ONNX model, element "
                    "type real); run it with verifier verify QUERY --network NAME=NETWORK.")
    c.add_argument("network", help="the ONNX network the property is about")
    c.add_argument("spec", help="VNN-LIB 1.0 property file")
    c.add_argument("-o", "--output", required=True, help="the 2.0 query file to write")
    c.add_argument("--name", default="net", help="the declared network's name (net)")
    c.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from verifier.network import load_network
    from verifier.network.onnx_import import graph_inputs, load_onnx_model
    from verifier.spec import load_vnnlib
    from verifier.spec.vnnlib2_writer import query_from_property, write_query

    check_output_file(args.output, "--output")
    net = load_network(args.network)
    prop = load_vnnlib(args.spec, n_inputs=net.n_inputs, n_outputs=net.n_outputs)
    in_shape, out_shape = (net.n_inputs,), (net.n_outputs,)
    if args.network.endswith(".onnx"):
        model, _ = load_onnx_model(args.network)
        in_shape = graph_inputs(model)[0][1]
        dims = model.graph.output[0].type.tensor_type.shape.dim
        out_shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in dims) or out_shape
        if len(model.graph.output) != 1 or int(np.prod(out_shape)) != net.n_outputs:
            out_shape = (net.n_outputs,)
    query = query_from_property(prop, in_shape, out_shape, network=args.name)
    write_text_atomic(args.output, write_query(
        query, comment=f"{args.spec} for {args.network}, written by verifier convert"))
    print(f"wrote {args.output}: run it with verifier verify {args.output} "
          f"--network {args.name}={args.network}")
    return 0
