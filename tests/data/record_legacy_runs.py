"""Record what each OLD training entry point produced, for tests/test_legacy_runs.py.

This ran once, against the package as it was at commit 77de6a4 (before the training code was merged
into one recipe and one loop), and wrote legacy_runs.json: it imports names that no longer exist.
To run it again: ``git worktree add /tmp/old 77de6a4`` and
``PYTHONPATH=/tmp/old python tests/data/record_legacy_runs.py out.json``; then add its runs to
legacy_runs.json's "recordings" with "machine" set to test_legacy_runs.machine_probe() on the same machine
(a new kind of machine, or a new pinned PyTorch; never to make a refactor pass).
"""
import hashlib, json, sys
from dataclasses import replace
import torch
from mnist_book.data import Batches, load_split, subset, train_val_split
from mnist_book.evaluate import loss_and_accuracy, predict

def fp(model):
    d = hashlib.sha1()
    for v in model.state_dict().values():  # values only, in order: modules may be renamed
        d.update(v.detach().cpu().contiguous().numpy().tobytes())
    return d.hexdigest()

def hist(h):
    return {k: [float(x).hex() for x in getattr(h, k)] for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")}

torch.set_num_threads(1)  # results depend on the thread count: record (and test) with one
out = {"torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
train_all, val_all = train_val_split(load_split("mnist", train=True), 5000, seed=0)
train = subset(train_all, 640, seed=0)
val = subset(val_all, 500, seed=0)
test = subset(load_split("mnist", train=False), 500, seed=0)

# 1, 2: chapter 5's fit (caller seeds and builds, fit reseeds)
from mnist_book.train import ARTICLE_RECIPE, PYTORCH_EXAMPLE_RECIPE, fit, train_one_epoch, make_optimizer, make_scheduler
from mnist_book.models import Net
for name, r in (("article", ARTICLE_RECIPE), ("pytorch_example", PYTORCH_EXAMPLE_RECIPE)):
    r = replace(r, epochs=2)
    torch.manual_seed(r.seed); m = Net()
    h = fit(m, Batches(train, r.batch_size, seed=r.seed), r, val_data=val, device="cpu", progress=False)
    out[f"fit/{name}"] = {"weights": fp(m), "history": hist(h)}

# 3: chapter 7's train_tuned, every ablation step, and the cosine schedule
from mnist_book.finetune import ARTICLE_TUNE, ablation_recipes, train_tuned
for i, (step, r) in enumerate(ablation_recipes(replace(ARTICLE_TUNE, epochs=2))):
    m, h = train_tuned(r, train, val, device="cpu", progress=False)
    out[f"tuned/{i}"] = {"step": step.name, "weights": fp(m), "history": hist(h)}
    last = r
m, h = train_tuned(replace(last, schedule="cosine", lr=0.05), train, val, device="cpu", progress=False)
out["tuned/cosine"] = {"weights": fp(m), "history": hist(h)}

# 4: the fast recipe as the bench trains it (seed, build FastNet channels-last, one-cycle per step)
from mnist_book.fast import FAST_RECIPE, FastNet, engine_for, prepare, make_fast_optimizer, make_one_cycle, train_fast_epoch
engine = engine_for("cpu", compile=False)
for seed in (0, 1):
    r = replace(FAST_RECIPE, seed=seed, epochs=2)
    torch.manual_seed(seed)
    model, step_model = prepare(FastNet(r.widths), engine)
    opt = make_fast_optimizer(model, r)
    batches = Batches(train, r.batch_size, drop_last=True, seed=seed)
    sched = make_one_cycle(opt, r, len(batches))
    accs = []
    for e in range(r.epochs):
        train_fast_epoch(step_model, batches, opt, sched, recipe=r, engine=engine)
        accs.append(float(predict(model, test, device="cpu", batch_size=1000).accuracy).hex())
    out[f"fast/seed{seed}"] = {"weights": fp(model), "test_accuracy": accs}

# 5: the bench's a and b (seed, build Net, train_one_epoch, StepLR per epoch; no reseed)
from mnist_book.bench import BenchData
for key, r in (("a", PYTORCH_EXAMPLE_RECIPE), ("b", ARTICLE_RECIPE)):
    r = replace(r, seed=0)
    torch.manual_seed(0); net = Net()
    opt = make_optimizer(net, r); sch = make_scheduler(opt, r)
    data = Batches(train, r.batch_size, seed=0)
    accs = []
    for e in range(2):
        train_one_epoch(net, data, opt, device="cpu")
        if sch is not None: sch.step()
        accs.append(float(predict(net, test, device="cpu", batch_size=1000).accuracy).hex())
    out[f"bench/{key}"] = {"weights": fp(net), "test_accuracy": accs}

# 6: chapter 7's transfer (make_transfer_model seeds and builds; train_transfer reseeds)
from mnist_book.finetune import TRANSFER_METHODS, TransferPlan, train_transfer, stratified_subset, with_old_head
torch.manual_seed(0); pre = Net()
fit(pre, Batches(train, 64, seed=0), replace(ARTICLE_RECIPE, epochs=1), device="cpu", progress=False)
out["transfer/pretrained"] = fp(pre)
fashion = stratified_subset(load_split("fashion_mnist", train=True), 200, seed=0)
plan = TransferPlan(budgets=(200,), epochs=(2,))
for method in TRANSFER_METHODS:
    m = train_transfer(method, pre, fashion, 2, plan, device="cpu")
    out[f"transfer/{method}"] = {"weights": fp(m)}

json.dump(out, open(sys.argv[1], "w"), indent=1)
print("recorded", len(out))
