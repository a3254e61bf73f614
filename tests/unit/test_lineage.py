"""The product knows its own configs; training adds the ones its recipe grows through."""

import subprocess
import sys

from nvcodec.models.config import COMPACT_SKIP, get_config, product_config_names
from nvcodec.training.grow import grow_model
from nvcodec.training.lineage import BEYOND_COMPACT_SKIP, LINEAGE
from nvcodec.training.loop import new_model
from nvcodec.training.prune import is_ffn_narrowing
from nvcodec.training.recipe import Recipe


def test_the_product_lists_the_published_and_the_shipped_architecture_and_tests_keep_tiny():
    assert product_config_names() == ["compact-skip", "compact-skip-deep-intra", "dcvc-rt"]
    assert get_config("tiny").name == "tiny"


def test_every_config_the_recipe_names_is_known_to_training():
    recipe = Recipe()
    names = {recipe.config} | {recipe.config_at(i) for i in range(len(recipe.stages))}
    assert {get_config(n).name for n in names} == names
    assert names == {c.name for c in (*LINEAGE, *BEYOND_COMPACT_SKIP)} | {"compact-skip"}


def test_the_lineage_grows_step_by_step_into_the_shipped_architecture():
    """Each config is its predecessor grown (grow.py) or with narrower FFNs (prune.py), and the last
    one with the pixel gate is compact-skip."""
    model = new_model(LINEAGE[0].name)
    for target in (*LINEAGE[1:], COMPACT_SKIP):
        # narrowing needs calibration frames (test_prune covers it): the chain goes on from a fresh model
        model = new_model(target.name) if is_ffn_narrowing(model.config, target) else grow_model(model, target)
        assert model.config == target
    for target in BEYOND_COMPACT_SKIP:  # each grows from compact-skip
        assert grow_model(model, target).config == target


def test_the_product_never_registers_the_lineage():
    code = ("from nvcodec import numerics; numerics.prepare_environment(); import sys; "
            "import nvcodec.codec.sequence, nvcodec.models.registry; "
            "from nvcodec.models.config import config_names; "
            "print(' '.join(config_names()), 'nvcodec.training' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["compact-skip", "compact-skip-deep-intra", "dcvc-rt", "tiny", "False"]


def test_a_candidate_in_a_grown_config_loads_where_models_are_chosen(tmp_path):
    """``nvc train --export`` can write a model in a config only training knows (a grown one); the
    command line and the evaluation, where candidates are judged, must still load it."""
    from nvcodec.models.bundle import synthetic_model
    from nvcodec.models.registry import save_model_file

    path = tmp_path / "grown.pt"
    save_model_file(synthetic_model(1, "compact-skip-i256"), path)
    bare = "import sys; from nvcodec.models.registry import resolve_model; resolve_model(sys.argv[1])"
    refused = subprocess.run([sys.executable, "-c", bare, str(path)], capture_output=True, text=True)
    assert refused.returncode != 0 and "unknown model config 'compact-skip-i256'" in refused.stderr
    chosen = ("import sys; from nvcodec_cli.common import load_model; from nvcodec.eval.codecs import NvcCodec; "
              "print(load_model(sys.argv[1]).config.name, NvcCodec(sys.argv[1], [0]).model.config.name)")
    loaded = subprocess.run([sys.executable, "-c", chosen, str(path)], capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["compact-skip-i256", "compact-skip-i256"]
