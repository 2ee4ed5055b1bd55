{{ (cookiecutter.project_name ~ ": " ~ cookiecutter.description) | py_docstring }}

__version__ = "{{ cookiecutter.version }}"
