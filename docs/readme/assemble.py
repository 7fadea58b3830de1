"""Builds README.md from the sections in docs/readme/ (run from the repository root: python3 docs/readme/assemble.py)."""
d = 'docs/readme/'


def rd(n):
    return open(d + n).read().strip() + "\n"


imp = rd('import.md')
demo, rest = imp.split("## Importing a shipment", 1)
rest = "## Importing a shipment" + rest
main_part, reports_and_speed = rest.split("## Reports and rework", 1)
_, speed = reports_and_speed.split("## Speed and memory", 1)
speed = "### Import speed and memory" + speed
parts = [rd('head.md'), demo.strip() + "\n", rd('input.md'), rd('validate.md'), rd('plan.md'),
         main_part.strip() + "\n\n" + speed.strip() + "\n", rd('journal.md'), rd('after.md'), rd('sim.md'),
         rd('guarantees.md'), rd('tail.md')]
open('README.md', 'w').write("\n".join(parts))
