"""The default pricing of PRICING.md, in the network's own aggregate shapes.

`DEFAULT_PRICE_AGGREGATE` is the pricing aggregate (per product `price.{compute_unit,storage}.
{holding,payg,credit}`, `compute_unit`, `tiers`); `DEFAULT_COMPATIBLE_GPUS` is the GPU catalogue
of the settings aggregate (`compatible_gpus`), with each device id once.
"""

_STANDARD_TIERS = [
    {"id": "tier-1", "compute_units": 1},
    {"id": "tier-2", "compute_units": 2},
    {"id": "tier-3", "compute_units": 4},
    {"id": "tier-4", "compute_units": 6},
    {"id": "tier-5", "compute_units": 8},
    {"id": "tier-6", "compute_units": 12},
]
_VM_STORAGE = {"payg": "0.000000977", "holding": "0.05", "credit": "0.17967489030626108"}
_GPU_STORAGE = {"payg": "0.000000977", "credit": "0.17967489030626108"}


def _cu(vcpus: int, memory_mib: int, disk_mib: int) -> dict:
    return {"vcpus": vcpus, "disk_mib": disk_mib, "memory_mib": memory_mib}


DEFAULT_PRICE_AGGREGATE = {
    "program": {
        "price": {
            "storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.977"},
            "compute_unit": {"payg": "0.011", "holding": "200", "credit": "11000"},
        },
        "tiers": _STANDARD_TIERS,
        "compute_unit": _cu(1, 2048, 2048),
    },
    "program_persistent": {
        "price": {
            "storage": {"payg": "0.000000977", "holding": "0.05", "credit": "0.977"},
            "compute_unit": {"payg": "0.055", "holding": "1000", "credit": "55000"},
        },
        "tiers": _STANDARD_TIERS,
        "compute_unit": _cu(1, 2048, 20480),
    },
    "instance": {
        "price": {
            "storage": _VM_STORAGE,
            "compute_unit": {"payg": "0.055", "holding": "1000", "credit": "14250"},
        },
        "tiers": _STANDARD_TIERS,
        "compute_unit": _cu(1, 2048, 20480),
    },
    "instance_confidential": {
        "price": {
            "storage": _VM_STORAGE,
            "compute_unit": {"payg": "0.11", "holding": "2000", "credit": "28500"},
        },
        "tiers": _STANDARD_TIERS,
        "compute_unit": _cu(1, 2048, 20480),
    },
    "instance_gpu_standard": {
        "price": {
            "storage": _GPU_STORAGE,
            "compute_unit": {"payg": "0.28", "holding": "280", "credit": "43125"},
        },
        "tiers": [
            {"id": "tier-1", "vram": 20480, "model": "RTX 4000 ADA", "compute_units": 3},
            {"id": "tier-2", "vram": 24576, "model": "RTX 3090", "compute_units": 4},
            {"id": "tier-3", "vram": 24576, "model": "RTX 4090", "compute_units": 6},
            {"id": "tier-4", "vram": 49152, "model": "L40S", "compute_units": 12},
        ],
        "compute_unit": _cu(1, 6144, 61440),
    },
    "instance_gpu_premium": {
        "price": {
            "storage": _GPU_STORAGE,
            "compute_unit": {"payg": "0.56", "holding": "560", "credit": "86250"},
        },
        "tiers": [
            {"id": "tier-1", "vram": 81920, "model": "A100", "compute_units": 16},
            {"id": "tier-2", "vram": 81920, "model": "H100", "compute_units": 24},
        ],
        "compute_unit": _cu(1, 6144, 61440),
    },
    "storage": {
        "price": {"storage": {"holding": "0.333333333", "credit": "0.17967489030626108"}},
    },
    "web3_hosting": {
        "price": {
            "fixed": 50,
            "storage": {"holding": "0.333333333", "credit": "0.17967489030626108"},
        },
    },
}


def _gpu(device_id: str, model: str, name: str) -> dict:
    return {"name": name, "model": model, "vendor": "NVIDIA", "device_id": device_id}


DEFAULT_COMPATIBLE_GPUS = [
    _gpu("10de:26b9", "L40S", "AD102GL [L40S]"),
    _gpu("10de:2684", "RTX 4090", "AD102 [GeForce RTX 4090]"),
    _gpu("10de:2685", "RTX 4090", "AD102 [GeForce RTX 4090 D]"),
    _gpu("10de:2204", "RTX 3090", "GA102 [GeForce RTX 3090]"),
    _gpu("10de:2203", "RTX 3090", "GA102 [GeForce RTX 3090 Ti]"),
    _gpu("10de:27b0", "RTX 4000 ADA", "AD104GL [RTX 4000 SFF Ada Generation]"),
    _gpu("10de:27b2", "RTX 4000 ADA", "AD104GL [RTX 4000 Ada Generation]"),
    _gpu("10de:2336", "H100", "GH100 [H100]"),
    _gpu("10de:22a3", "H100", "GH100 [H100 NVSwitch]"),
    _gpu("10de:2313", "H100", "GH100 [H100 CNX]"),
    _gpu("10de:2330", "H100", "GH100 [H100 SXM5 80GB]"),
    _gpu("10de:2331", "H100", "GH100 [H100 PCIe]"),
    _gpu("10de:2080", "A100", "GA100"),
    _gpu("10de:2081", "A100", "GA100"),
    _gpu("10de:20b2", "A100", "GA100 [A100 SXM4 80GB]"),
    _gpu("10de:20b5", "A100", "GA100 [A100 PCIe 80GB]"),
    _gpu("10de:20b8", "A100", "GA100 [A100X]"),
    _gpu("10de:2687", "RTX 5090", "GB202 [GeForce RTX 5090 D]"),
]
