"""Build a model package for every corpus in the data folder: train, score, write the card, make the wheel.

One command, from the repository root (it runs for hours on 2 cores; run it again to resume):

    python scripts/build_models.py                               # all 14: ud/* and ner/* with a conf/data config
    python scripts/build_models.py --only tr_atis --threads 1 --overrides trainer.max_epochs=1 segmenter.training.max_steps=50
    python scripts/build_models.py --dry-run                     # what would be built, skipped or resumed
    python scripts/build_models.py --publish-only                # copy what is built into models/, rewrite its index

Each corpus is trained with the default config (`tagger train data=NAME`; NER corpora with
`experiment=ner`), its model stored as float16 without the vocabulary's stored CLE table (a
quarter of the file; `tagger.model.model_file` says why) and scored in that form (the one evaluate path:
dev and test on gold tokens, and end to end from raw text where the model segments it), the
card written into the model's metadata and beside it as Markdown, and the model packaged
(`tagger package`) into OUTPUT/wheels, a folder pip reads with `--find-links` (OUTPUT/simple is
the same wheels as a PEP 503 simple index, for `--index-url`). A model whose
wheel exists and whose recipe (command, data files, tagger and package versions) is unchanged
is skipped; a training that was stopped resumes from its last checkpoint; a model file built with the
table is rewritten without it and scored again, from the built file (nothing is trained).

After each model (and with `--publish-only`, for every built one, from the build's state alone) the
wheel and its card are copied into the repository's `models/` (replacing other versions of that
model) and `models/index.json` is rewritten from the cards in the wheels' model files: what
`tagger download` and `tagger models --available` read. A model the package ships (en_ewt, the offline
fallback in `tagger/shipped_models/`) is replaced there by the same file, its card and its data's licence,
so the shipped model is built, scored and described like every other. The build's working files stay in OUTPUT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger("build_models")
# Published test figures to set beside ours: UDPipe 2 (UD 2.15, with multilingual BERT) Lemmas and raw-text
# Words / Sentences F1; for NER, the UNER paper's in-language XLM-R-large span F1 (Mayhew et al., 2024).
PUBLISHED = {"en_ewt": ("97.87", "99.01 / 87.55"), "et_ewt": ("95.28", "98.63 / 78.03"), "tr_atis": ("99.07", "99.90 / 79.28"),
             "ko_gsd": ("94.01", "99.87 / 93.93"), "tr_imst": ("95.88", "97.31 / 97.38"), "fr_sequoia": ("99.09", "99.12 / 88.77"),
             "uner_pt_bosque": "90.4", "uner_hr_set": "93.6", "uner_da_ddt": "82.7", "uner_sk_snk": "85.5", "uner_sr_set": "94.7",
             "uner_sv_talbanken": "88.3", "uner_zh_gsd": "89.5"}


@dataclass
class Corpus:
    name: str
    directory: Path
    ner: bool

    def train_arguments(self, overrides: list[str]) -> list[str]:
        return [f"data={self.name}", *(["experiment=ner"] * self.ner), *overrides]


def corpora(data_dir: Path, only: list[str] | None) -> list[Corpus]:
    """Every UD treebank and NER corpus of the data folder that has a data config, in name order."""
    found = [Corpus(folder.name, folder, kind == "ner") for kind in ("ud", "ner")
             for folder in sorted((data_dir / kind).glob("*"))
             if folder.is_dir() and (REPO / "conf" / "data" / f"{folder.name}.yaml").is_file()]
    if only:
        unknown = sorted(set(only) - {corpus.name for corpus in found})
        if unknown:
            sys.exit(f"build_models: error: --only {', '.join(unknown)}: no such corpus in {data_dir} "
                     f"(there: {', '.join(corpus.name for corpus in found)})")
        found = [corpus for corpus in found if corpus.name in only]
    return found


# Keys of the resolved config that say where a run lives, how many threads it had or what it shows while
# it runs, not what it trains: a change of these rebuilds nothing
RUN_KEYS = ("run_dir", "output_model", "resume", "ckpt_path", "threads", "data_dir", "logger")
DISPLAY_KEYS = {"trainer": ("enable_progress_bar", "enable_model_summary", "log_every_n_steps"),
                "callbacks": ("progress_bar", "learning_rate_monitor", "training_curves")}


def resolved_config(corpus: Corpus, overrides: list[str]) -> dict:
    """The config `tagger train` composes for the corpus, every default resolved, without RUN_KEYS; data paths
    relative to the data folder. The segmenter's settings count only where a segmenter is learned (CoNLL-U)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
        cfg = compose("train", overrides=[*corpus.train_arguments(overrides), "data_dir=DATA", "run_dir=RUN"])
    config = OmegaConf.to_container(cfg, resolve=True)
    for key in RUN_KEYS:
        config.pop(key, None)
    for section, keys in DISPLAY_KEYS.items():
        for key in keys:
            config[section].pop(key, None)
    if config["data"]["format"] != "conllu" or config["segmenter"]["learn"] is False:
        config.pop("segmenter")
    return config


def recipe(corpus: Corpus, args: argparse.Namespace) -> str:
    """What makes a build current: the resolved training config, the data files, the tagger and package versions.

    A later change of any default changes the key of exactly the models whose config it changes."""
    from tagger import __version__

    config = resolved_config(corpus, args.overrides)
    digest = hashlib.sha256(json.dumps([config, __version__, args.version], sort_keys=True).encode())
    for path in sorted(corpus.directory.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def relative(path: Path | str) -> str:
    return os.path.relpath(path, REPO)


def relative_paths(value):
    """Absolute paths in a recorded config, relative to the repository root: no machine's directories in a card."""
    if isinstance(value, dict):
        return {key: relative_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [relative_paths(item) for item in value]
    return relative(value) if isinstance(value, str) and value.startswith("/") else value


MINUTES_SAVED_EVERY = 60.0  # seconds


def train(corpus: Corpus, run_dir: Path, args: argparse.Namespace, state: dict, state_file: Path) -> list[str]:
    """Train into run_dir (resuming a stopped run); the commands, with relative paths, that made the model.

    Each command is recorded in the state before it runs, so a killed build still knows how its run began."""
    threads = [f"threads={args.threads}"] if args.threads else []
    fresh = ["tagger", "train", *corpus.train_arguments(args.overrides), f"hydra.run.dir={relative(run_dir)}", *threads]
    if args.data_dir != REPO.parent / "shared" / "data":
        fresh.append(f"data_dir={args.data_dir}")
    commands = state.setdefault("commands", [])
    if (run_dir / "scores.json").is_file():  # trained already (by an earlier invocation, whose state may be lost)
        commands[:] = commands or [shlex.join(fresh)]
        return commands
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        command = ["tagger", "train", f"resume={relative(run_dir)}", *threads]
    else:
        command = fresh
        commands.clear()
    commands.append(shlex.join(command))
    _save(state_file, state)
    log.info("$ %s", commands[-1])
    started, minutes = time.monotonic(), state.get("train_minutes", 0.0)

    def record() -> None:  # a stopped, failed or killed run's minutes count too: the resumed run continues its work
        state["train_minutes"] = minutes + (time.monotonic() - started) / 60
        _save(state_file, state)

    process = subprocess.Popen([sys.executable, "-m", "tagger.cli", *command[1:]], cwd=REPO)
    try:
        while True:  # the minutes are saved as it runs: a killed build (no Ctrl-C, no finally) loses at most one
            try:
                returncode = process.wait(timeout=MINUTES_SAVED_EVERY)
                break
            except subprocess.TimeoutExpired:
                record()
    except BaseException:  # Ctrl-C reaches the training too (one process group): let it save its checkpoint
        process.wait()
        raise
    finally:
        record()
    if returncode:
        raise subprocess.CalledProcessError(returncode, command)
    return commands


SCORING_PRECISION = "float32"  # the cards' figures: the same on every CPU and GPU, unlike bfloat16's


def scores(model: Path, provenance: dict) -> dict[str, dict[str, dict[str, float]]]:
    """Dev and test scores of the model file in SCORING_PRECISION, gold tokens and (CoNLL-U with a segmenter) raw text."""
    from tagger.evaluation.evaluate import evaluate_file, evaluate_raw
    from tagger.inference.tagger import Tagger

    tagger = Tagger.load(model, precision=SCORING_PRECISION, threads=None)
    data = provenance["config"]["data"]
    found: dict[str, dict[str, dict[str, float]]] = {}
    for split in ("dev", "test"):
        path = REPO / data[split]
        found[split] = {"gold": evaluate_file(tagger.predictor, path, data["format"], data["fields"], data["scheme"]).scores}
        if data["format"] == "conllu" and tagger.bundle.segmenter is not None:
            tag_text = lambda text: [s.sentence for s in tagger.tag(text, input_format="raw")]  # noqa: E731
            found[split]["raw"] = evaluate_raw(path, tag_text, tagger.columns).scores
        log.info("%s %s: %s", model.name, split, json.dumps(found[split]))
    return found


def write_card(corpus: Corpus, source: Path, models: Path, state: dict) -> Path:
    """The float16 model file (without the stored CLE table) with its card in the metadata, and the card as
    Markdown beside it. `source` is the run's model file, or the built file itself when that is rewritten."""
    import torch

    from tagger.model.model_file import load_model, save_model
    from tagger.packaging.card import data_provenance, package_versions, render_card, store_card

    bundle = load_model(source)
    provenance = relative_paths(bundle.provenance)
    model = models / f"{corpus.name}.safetensors"
    save_model(model, bundle.network, bundle.vocabs, provenance, weights_dtype=torch.float16, segmenter=bundle.segmenter,
               form_table=False)
    card = {"name": corpus.name, "language": provenance.get("language"), "columns": bundle.vocabs.learned_columns,
            "segmenter": bundle.segmenter is not None, "scores": scores(model, provenance), "precision": SCORING_PRECISION,
            "command": "\n".join(state["commands"]), "training_minutes": round(state.get("train_minutes", 0.0), 1),
            "best_epoch": provenance.get("best_checkpoint_epoch"),
            "data": {**data_provenance(corpus.directory), "directory": relative(corpus.directory)},
            "versions": package_versions(), "built": time.strftime("%Y-%m-%d")}
    store_card(model, card)
    model.with_suffix(".md").write_text(render_card(card), encoding="utf-8")
    return model


def build(corpus: Corpus, args: argparse.Namespace) -> str:
    """Build one corpus's wheel unless it is built and current; what was done, in a word."""
    from tagger.model.model_file import stores_form_table
    from tagger.packaging.package import package_model

    state_file = args.output_dir / "state" / f"{corpus.name}.json"
    key = recipe(corpus, args)
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    if not state and published_recipes(args.publish_dir).get(corpus.name) == key:
        return "published"  # built by another machine's build and published with this recipe: its working files are gone
    if state.get("recipe") != key:
        state = {"recipe": key}
    built = args.output_dir / "models" / f"{corpus.name}.safetensors"
    if state.get("wheel") and (args.output_dir / "wheels" / state["wheel"]).is_file() and built.is_file():
        if not stores_form_table(built):
            return "current"
        if args.dry_run:
            return "rewrite"
        source = built  # built before published files left the table out: rescored from itself, nothing trained
    else:
        run_dir = args.output_dir / "runs" / f"{corpus.name}-{key}"
        resumable = (run_dir / "checkpoints" / "last.ckpt").is_file() and not (run_dir / "scores.json").is_file()
        if args.dry_run:
            return "resume" if resumable else "package" if (run_dir / "scores.json").is_file() else "train"
        train(corpus, run_dir, args, state, state_file)
        source = run_dir / "model.safetensors"
    model = write_card(corpus, source, args.output_dir / "models", state)
    packaged = package_model(model, args.output_dir / "wheels", corpus.name, args.version,
                             licence_file=corpus.directory / "LICENSE.txt", force=True)
    if packaged.non_commercial:
        log.warning("%s: training data licensed %s (non-commercial); the wheel's metadata says so", corpus.name, packaged.licence)
    state["wheel"] = packaged.wheel.name
    _save(state_file, state)
    return "built"


def publish(names: list[str], output_dir: Path, published: Path, shipped: Path | None = None) -> dict[str, dict[str, int]]:
    """Copy each built model's wheel and card into `published` (replacing other versions of that model's wheel)
    and rewrite its index.json from the cards in all its wheels; a model the package ships (its file is in
    `shipped`) is replaced there too, by the built file, its card and its data's licence. Trains and scores
    nothing. The size in bytes of each file copied, by model."""
    import shutil

    from tagger.model.model_file import stores_form_table
    from tagger.packaging.index import write_index
    from tagger.packaging.wheel import escaped

    sizes = {}
    for name in names:
        state_file = output_dir / "state" / f"{name}.json"
        wheel_name = json.loads(state_file.read_text()).get("wheel") if state_file.is_file() else None
        wheel, card = output_dir / "wheels" / str(wheel_name), output_dir / "models" / f"{name}.md"
        if not wheel_name or not wheel.is_file():
            continue
        model = output_dir / "models" / f"{name}.safetensors"
        if model.is_file() and stores_form_table(model):
            log.warning("%s: built with the stored CLE table, published as it is; the build run again rewrites it "
                        "without (scored again, nothing trained)", name)
        published.mkdir(parents=True, exist_ok=True)
        for other in published.glob(f"{escaped(f'tagger-model-{name}')}-*.whl"):
            if other.name != wheel.name:
                other.unlink()
        sizes[name] = {}
        for source in (wheel, card) if card.is_file() else (wheel,):
            shutil.copyfile(source, published / source.name)
            sizes[name][source.name] = source.stat().st_size
        if shipped is not None and (shipped / f"{name}.safetensors").is_file():
            sizes[name].update(ship(name, output_dir, shipped))
        log.info("%s published: %s", name, ", ".join(f"{file} {size:,} bytes" for file, size in sizes[name].items()))
    if published.is_dir():
        recipes = published_recipes(published)
        recipes.update({name: json.loads((output_dir / "state" / f"{name}.json").read_text()).get("recipe")
                        for name in sizes})
        write_index(published)
        index = json.loads((published / "index.json").read_text())
        for entry in index["models"]:  # each model's recipe key, so a build on another machine skips it
            if recipes.get(entry["name"]):
                entry["recipe"] = recipes[entry["name"]]
        (published / "index.json").write_text(json.dumps(index, indent=2, ensure_ascii=False) + "\n")
    return sizes


def ship(name: str, output_dir: Path, shipped: Path) -> dict[str, int]:
    """Replace the model the package ships (the offline fallback) by the built one: the same file as in its
    wheel, its card, and the licence of its data (`shipped/NAME.LICENSE.txt`). The size in bytes of each file."""
    import shutil

    from tagger.inference.packages import header_metadata

    model = output_dir / "models" / f"{name}.safetensors"
    data = json.loads(header_metadata(model)["provenance"])["card"]["data"]["directory"]
    copies = {model: shipped / model.name, model.with_suffix(".md"): shipped / f"{name}.md",
              REPO / data / "LICENSE.txt": shipped / f"{name}.LICENSE.txt"}
    for source, target in copies.items():
        shutil.copyfile(source, target)
    return {f"{relative(target)}": target.stat().st_size for target in copies.values()}


def published_recipes(published: Path) -> dict[str, str]:
    """The recipe key (`recipe`) each published model was built with, by name, from the published index."""
    path = published / "index.json"
    models = json.loads(path.read_text())["models"] if path.is_file() else []
    return {entry["name"]: entry["recipe"] for entry in models if entry.get("recipe")}


def write_simple_index(wheels: Path, index: Path) -> None:
    """A PEP 503 simple index of the wheels (static HTML, any web server): pip install --index-url URL/simple ..."""
    import html
    import re

    projects: dict[str, list[Path]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        projects.setdefault(re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower(), []).append(wheel)
    for project, files in projects.items():
        links = "".join(f'<a href="../../wheels/{html.escape(f.name)}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">'
                        f"{html.escape(f.name)}</a><br>\n" for f in files)
        (index / project).mkdir(parents=True, exist_ok=True)
        (index / project / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    links = "".join(f'<a href="{project}/">{project}</a><br>\n' for project in projects)
    (index / "index.html").write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")


def models_table(models: Path) -> str:
    """The README's models table, one row a model, from the cards in the model files' metadata."""
    from tagger.inference.packages import header_metadata

    ud = ["| model | language | licence of the data | UPOS | AllTags | Lemmas | raw Words / Sentences "
          "| UDPipe 2 Lemmas | UDPipe 2 Words / Sentences |", "|---|---|---|--:|--:|--:|--:|--:|--:|"]
    ner = ["| model | language | licence of the data | test span F1 | XLM-R-large (UNER paper) |", "|---|---|---|--:|--:|"]
    for path in sorted(models.glob("*.safetensors")):
        card = json.loads(header_metadata(path).get("provenance", "{}")).get("card")
        if not card:
            continue
        test, licence = card["scores"]["test"], card["data"]["licence"]
        gold, raw = test["gold"], test.get("raw", {})
        start = f"| {card['name']} | {card['language']} | {licence} |"
        if "NER-F1" in gold:
            ner.append(f"{start} {gold['NER-F1']:.1f} | {PUBLISHED.get(card['name'], '—')} |")
        else:
            cells = [f"{gold[key]:.2f}" if key in gold else "—" for key in ("UPOS", "AllTags", "Lemmas")]
            words = f"{raw['Words']:.2f} / {raw['Sentences']:.2f}" if raw else "—"
            udpipe = PUBLISHED.get(card["name"], ("—", "—"))
            ud.append(f"{start} {' | '.join(cells)} | {words} | {udpipe[0]} | {udpipe[1]} |")
    return "\n".join(ud) + "\n\n" + "\n".join(ner)


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=REPO / "build" / "models",
                        help="runs/, models/ (files and cards), wheels/ (the --find-links folder), state/")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data", help="holds ud/ and ner/")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="build only these corpora (e.g. tr_atis uner_da_ddt)")
    parser.add_argument("--overrides", nargs="+", default=[], metavar="KEY=VALUE", help="extra `tagger train` overrides")
    parser.add_argument("--threads", type=int, help="torch threads per training (threads=N)")
    parser.add_argument("--version", default="0.1.0", help="version of every model package")
    parser.add_argument("--dry-run", action="store_true", help="say what would be trained, resumed, packaged or skipped")
    parser.add_argument("--table", action="store_true", help="print the README's models table from the built cards, build nothing")
    parser.add_argument("--publish-dir", type=Path, default=REPO / "models",
                        help="the published folder: wheels, cards and index.json (default: the repository's models/)")
    parser.add_argument("--shipped-dir", type=Path, default=REPO / "tagger" / "shipped_models",
                        help="the models the package ships: a built model of the same name replaces one there on publishing")
    parser.add_argument("--no-publish", dest="publish", action="store_false", help="build only; leave the published folder alone")
    parser.add_argument("--publish-only", action="store_true",
                        help="copy every built model (or --only these) into the published folder and rewrite its index; "
                             "build, train and score nothing")
    args = parser.parse_args()
    args.output_dir, args.data_dir = args.output_dir.resolve(), args.data_dir.resolve()
    if args.table:
        print(models_table(args.output_dir / "models"))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.publish_only:
        built = sorted(path.stem for path in (args.output_dir / "state").glob("*.json"))
        unknown = sorted(set(args.only or []) - set(built))
        if unknown:
            sys.exit(f"build_models: error: --only {', '.join(unknown)}: not built in {args.output_dir} (built: {', '.join(built) or 'none'})")
        print(json.dumps(publish(args.only or built, args.output_dir, args.publish_dir.resolve(), args.shipped_dir.resolve()), indent=2))
        return
    done = {}
    for corpus in corpora(args.data_dir, args.only):
        started = time.monotonic()
        try:
            done[corpus.name] = build(corpus, args)
        except KeyboardInterrupt:
            sys.exit(f"build_models: stopped during {corpus.name}; the same command resumes it")
        except subprocess.CalledProcessError as error:
            sys.exit(f"build_models: error: {corpus.name}: `tagger train` failed (exit {error.returncode}); "
                     f"the same command retries it")
        took = "" if args.dry_run else f" ({(time.monotonic() - started) / 60:.1f} minutes)"  # a dry run takes none
        log.info("%s: %s%s", corpus.name, done[corpus.name], took)
        if args.publish and not args.dry_run:
            publish([corpus.name], args.output_dir, args.publish_dir.resolve(), args.shipped_dir.resolve())
    if not args.dry_run and (args.output_dir / "wheels").is_dir():
        write_simple_index(args.output_dir / "wheels", args.output_dir / "simple")
    print(json.dumps(done, indent=2))


if __name__ == "__main__":
    main()
