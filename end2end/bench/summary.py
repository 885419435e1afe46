"""Markdown table (median and range per rate) from the BENCH lines of a busy-room benchmark log."""
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    if "BENCH {" in line:
        r = json.loads(line.split("BENCH ", 1)[1])
        runs.setdefault(r["rate"], []).append(r)
def cell(rs, key, fmt):
    xs = sorted(r[key] for r in rs)
    return f"{fmt(statistics.median(xs))} ({fmt(xs[0])}–{fmt(xs[-1])})"
print("| messages/s | main thread ms per message | script ms per message | main thread busy | elements in the document | live nodes after GC | messages rendered | long tasks (> 50 ms) | longest task ms | JS heap MiB before → after GC |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for rate, rs in sorted(runs.items()):
    print(f"| {rate} | {cell(rs, 'taskMsPerMessage', lambda x: f'{x:.2f}')} | {cell(rs, 'scriptMsPerMessage', lambda x: f'{x:.2f}')} "
          f"| {cell(rs, 'mainThreadShare', lambda x: f'{x:.0%}')} | {cell(rs, 'elements', lambda x: f'{x:,.0f}')} "
          f"| {cell(rs, 'nodesAfterGc', lambda x: f'{x:,.0f}')} | {cell(rs, 'shownMessages', lambda x: f'{x:,.0f}')} "
          f"| {cell(rs, 'longTasks', lambda x: f'{x:.0f}')} | {cell(rs, 'longestTaskMs', lambda x: f'{x:.0f}')} "
          f"| {cell(rs, 'heapBeforeMiB', lambda x: f'{x:.1f}')} → {cell(rs, 'heapMiB', lambda x: f'{x:.1f}')} |")
