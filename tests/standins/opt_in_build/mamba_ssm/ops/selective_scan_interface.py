"""Stand-in for mamba-ssm's main branch after 2.3.2.post1 installed without ``MAMBA_KEEP_CUDA_BUILD``:
the CUDA scan became an opt-in build, so this module imports and the first scan raises."""

selective_scan_cuda = None


def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, return_last_state=False):
    if selective_scan_cuda is None:
        raise RuntimeError(
            "selective_scan_cuda is not installed. To use Mamba-1, reinstall with:\n"
            "  MAMBA_KEEP_CUDA_BUILD=TRUE pip install mamba-ssm --no-build-isolation"
        )
