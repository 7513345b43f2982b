"""The C part of the package (everything else is in pyproject.toml): the observation's hot loop.

``kalshi_actor/_features.c`` computes the history windows and observation rows that
``marketdata/history.py`` and ``observation/builder.py`` define; gcc builds it at install.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "kalshi_actor._features", ["src/kalshi_actor/_features.c"],
    extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter",
                        "-Wno-missing-field-initializers"],
)])
