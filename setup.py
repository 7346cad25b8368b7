"""Build of the C hot loop of the raw Bitcoin parser; everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chainsleuth.chains.bitcoin._parser",
            sources=["src/chainsleuth/chains/bitcoin/_parser.c"],
            extra_compile_args=["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)
