"""Print docs/api.md, the HTTP API reference, generated from the app's OpenAPI: `make docs`."""

from watchkeeper.api.reference import reference_app, render_api_reference

if __name__ == "__main__":
    print(render_api_reference(reference_app()), end="")
