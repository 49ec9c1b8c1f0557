import json, statistics, glob
rows = []
for model in ("go-crazy", "vanilla"):
    for side in ("before", "after"):
        rounds = []
        for f in sorted(glob.glob(f"/work/ab/bench-{model}-{side}-*.json")):
            r = json.load(open(f))["results"][0]
            for mini, torch_here, torch_own in r["rounds"]:
                rounds.append((mini["train_img_s"], torch_here["train_img_s"], torch_own["train_img_s"],
                               mini["infer_img_s"], torch_here["infer_img_s"], torch_own["infer_img_s"]))
        med = lambda i: statistics.median(x[i] for x in rounds)
        ratio = lambda i, j: [x[i] / x[j] for x in rounds]
        tr = ratio(0, 1); tro = ratio(0, 2); ir = ratio(3, 4)
        rows.append((model, side, len(rounds), med(0), med(1), statistics.median(tr), min(tr), max(tr),
                     statistics.median(tro), med(3), statistics.median(ir)))
print("| model | side | rounds | minicnn train img/s | torch here img/s | train ratio here (min-max) | train ratio own | minicnn infer img/s | infer ratio here |")
print("|---|---|---|---|---|---|---|---|---|")
for m, s, n, a, b, r, lo, hi, ro, i, ir in rows:
    print(f"| {m} | {s} | {n} | {a:,.0f} | {b:,.0f} | **{r:.2f}x** ({lo:.2f}-{hi:.2f}) | {ro:.2f}x | {i:,.0f} | {ir:.2f}x |")
for m in ("go-crazy", "vanilla"):
    b = [r for r in rows if r[0] == m and r[1] == "before"][0]; a = [r for r in rows if r[0] == m and r[1] == "after"][0]
    print(m, "after/before train ratio:", round(a[5] / b[5], 3), " minicnn img/s:", round(a[3] / b[3], 3))
