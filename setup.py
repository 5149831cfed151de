"""Package layout: platform/ is the source root of kubeloop; components/ and serving/ ship inside it.

`platform` is a standard-library module, so platform/ itself is never a package. Mapping components/
and serving/ to kubeloop.components and kubeloop.serving gives one import path for each thing, the
same in an editable install and in the wheel.
"""

from setuptools import find_packages, setup

SUBTREES = {"kubeloop.components": "components", "kubeloop.serving": "serving"}


def _packages() -> tuple[list[str], dict[str, str]]:
    packages = find_packages("platform", include=["kubeloop", "kubeloop.*"])
    package_dir = {"kubeloop": "platform/kubeloop"}
    for name, folder in SUBTREES.items():
        packages.append(name)
        package_dir[name] = folder
        for sub in find_packages(folder):
            packages.append(f"{name}.{sub}")
            package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


packages, package_dir = _packages()
setup(packages=packages, package_dir=package_dir)
