"""Build of the C hot loops (raw Bitcoin parser, union-find); the rest is in pyproject.toml."""

from setuptools import Extension, setup

FLAGS = ["-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"]

setup(
    ext_modules=[
        Extension(
            "chainsleuth.chains.bitcoin._parser",
            sources=["src/chainsleuth/chains/bitcoin/_parser.c"],
            extra_compile_args=FLAGS,
        ),
        Extension(
            "chainsleuth.analytics.clustering._unionfind",
            sources=["src/chainsleuth/analytics/clustering/_unionfind.c"],
            extra_compile_args=FLAGS,
        ),
    ]
)
