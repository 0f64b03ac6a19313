"""course_lib — compagnon exécutable du chapitre 8.5 « Critères de Sélection et Scheduling ».

Les noms du chapitre sont réexportés ici : ``from course_lib import magnitude_criterion``.
"""

from .criteria import (
    apoz_criterion,
    apoz_importance,
    approximate_hessian_diag,
    compute_apoz,
    compute_gradient_salience,
    compute_gradients,
    compute_obd_saliency,
    gradient_criterion,
    hessian_criterion,
    inverted_hessian_criterion,
    magnitude_criterion,
    normalize_per_layer,
    obs_criterion,
    per_example_taylor_salience,
    per_sample_gradients,
    taylor_squared_criterion,
)
from .data import (
    DATASETS,
    DataBundle,
    load_cifar10_data,
    load_data,
    load_digits_data,
    load_mnist_data,
)
from .fr import num, pct, pm
from .masks import (
    LayerCollapseWarning,
    apply_masks,
    create_masks,
    create_masks_from_importance,
    effective_weight,
    get_masks,
    get_weights,
    load_pruned_state_dict,
    make_permanent,
    prunable_modules,
    remove_masks,
    set_masks,
    sparsity_report,
)
from .models import MLP, SmallCNN, build_model
from .seeds import SeedResults, SeedStats, clearly_greater, greater_on_every_seed, over_seeds
from .training import (
    evaluate,
    fine_tune,
    reseed_loader,
    set_seed,
    train,
    train_baseline,
    train_one_epoch,
)

__version__ = "0.1.0"

from .allocation import (  # noqa: E402  (notebook 13 : où élaguer)
    allocation_masks,
    erk_allocation,
    global_allocation,
    sensitivity_allocation,
    sensitivity_scan,
    uniform_allocation,
)
from .cost import count_macs, count_params, measure_latency  # noqa: E402  (notebook 11)
from .criteria import snip_saliency  # noqa: E402
from .models import CifarCNN  # noqa: E402
from .pruning_at_init import shuffle_within_layers, snip_masks  # noqa: E402
from .rewinding import (  # noqa: E402
    random_reinit,
    rewind_weights,
    step_schedule,
    train_with_schedule,
    weights_snapshot,
)
from .scheduling import (  # noqa: E402  (issue 4 : calendriers et ordonnanceurs)
    AdaptivePruningScheduler,
    ComparisonResult,
    EpochTrainer,
    PruningScheduler,
    RegrowthPruning,
    adaptive_pruning,
    compare_pruning_criteria,
    cubic_schedule,
    linear_schedule,
    one_shot_schedule,
    polish_pruning,
    rigl_drop_fraction,
)
from .structured import (  # noqa: E402  (issue 13 : élagage structuré)
    channel_importance,
    channel_masks,
    remove_channels,
    select_channels,
)
