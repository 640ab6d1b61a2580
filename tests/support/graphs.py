"""Large workflow shapes for the console's render tests and benchmark."""

from __future__ import annotations


def layered_workflow(layers: int, width: int) -> str:
    """`layers` x `width` tasks; each task leads to two of the next layer, and the last
    layer loops back to the first while `$ctx.again` holds (every layer boundary has
    crossing edges, and there is a cycle: the layout's hard cases)."""
    lines = ["version: 1", "vars:", "  again: false", "tasks:"]
    for layer in range(layers):
        for index in range(width):
            lines.append(f"  t{layer}_{index}:")
            lines.append("    action: core.noop")
            if layer + 1 < layers:
                targets = f"[t{layer + 1}_{index}, t{layer + 1}_{(index + 1) % width}]"
                lines.append(f"    next: [{{when: $succeeded(), do: {targets}}}]")
            else:
                lines.append(f"    next: [{{when: $ctx.again, do: t0_{index}}}]")
    lines.append(f"start: [{', '.join(f't0_{index}' for index in range(width))}]")
    return "\n".join(lines) + "\n"
