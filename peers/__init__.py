"""The peers' own loss tests (Keras', optax's, tf-keras'), run against unilosses.

Test tooling, not part of the installed package: ``python -m peers`` (``nox -s peers``)
copies the test files from the installed Keras and optax wheels (and tf-keras' from
``peers/vendored/tf_keras/``: its wheel ships none) into a build directory, rewrites only
their imports so that ``losses.X`` / ``_classification.X`` resolve to this package's shims
(:mod:`peers.keras_shim`, :mod:`peers.optax_shim`, :mod:`peers.tf_keras_shim`), runs them
with pytest (one process per Keras backend) and compares every failure with the list in
:mod:`peers.expected`.

The shims only translate, as a user porting code would: names, argument order, option
names (the README's mapping table). What unilosses lacks falls back to the framework's
own object and the test is reported as *missing*, never as passed (:mod:`peers.fallback`).
"""
