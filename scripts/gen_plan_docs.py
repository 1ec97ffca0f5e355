"""Print docs/plan.md, the plan file reference, generated from the models: `make docs`."""

from watchkeeper.plan.reference import render_reference

if __name__ == "__main__":
    print(render_reference(), end="")
