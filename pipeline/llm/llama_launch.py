"""Start llama-cpp-python's server, optionally without llama.cpp's extra buffer types.

`python -m pipeline.llm.llama_launch [--no-extra-bufts] <llama_cpp.server arguments>`:
llama-cpp-python exposes no setting for `use_extra_bufts`, and its AMX / repack kernels
crashed while loading on some CPUs; the flag makes every model load with it off.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    import llama_cpp.llama_cpp as native

    if "--no-extra-bufts" in argv:
        argv = [a for a in argv if a != "--no-extra-bufts"]
        default_params = native.llama_model_default_params

        def without_extra_bufts():  # type: ignore[no-untyped-def]
            params = default_params()
            if hasattr(params, "use_extra_bufts"):
                params.use_extra_bufts = False
            return params

        native.llama_model_default_params = without_extra_bufts
    from llama_cpp.server.__main__ import main as server_main

    sys.argv = ["llama_cpp.server", *argv]
    server_main()


if __name__ == "__main__":
    main(sys.argv[1:])
