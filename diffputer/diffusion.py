"""EDM diffusion (Karras et al. 2022): preconditioning, training loss and noise schedule.

Symbols follow the EDM paper: ``sigma`` the noise level, ``sigma_data`` the data's standard
deviation (0.5 after encoding), ``D(x; sigma) = c_skip x + c_out F(c_in x, c_noise)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .encoding import SIGMA_DATA

# The buffers of a Preconditioned that hold its training rows' mean and covariance.
MOMENT_BUFFERS = ("data_mean", "data_cov")

# Training noise distribution: ln(sigma) ~ N(P_MEAN, P_STD^2) (EDM Table 1).
P_MEAN, P_STD = -1.2, 1.2


def c_skip(sigma, sigma_data=SIGMA_DATA):
    return sigma_data**2 / (sigma**2 + sigma_data**2)


def c_out(sigma, sigma_data=SIGMA_DATA):
    return sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt()


def c_in(sigma, sigma_data=SIGMA_DATA):
    return 1 / (sigma**2 + sigma_data**2).sqrt()


def c_noise(sigma):
    return sigma.log() / 4


def loss_weight(sigma, sigma_data=SIGMA_DATA):
    """lambda(sigma) = (sigma^2 + sigma_data^2) / (sigma sigma_data)^2."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


class Preconditioned(nn.Module):
    """Wraps a raw network F into the denoiser D(x; sigma) used by loss and sampler.

    Its buffers ``data_mean`` and ``data_cov`` hold the mean and covariance of the rows it was
    last trained on (zeros until then): the sampler's corrector needs them (see
    ``sampling.lifted``)."""

    def __init__(self, net: nn.Module, sigma_data: float = SIGMA_DATA):
        super().__init__()
        self.net = net
        self.sigma_data = sigma_data
        d = net.n_features
        for name, shape in zip(MOMENT_BUFFERS, ((d,), (d, d))):
            self.register_buffer(name, torch.zeros(shape))

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """``sigma``: one noise level per row of x, or a single one for all rows (then the
        network embeds it once, which saves a fifth of a sampling step)."""
        sigma = sigma.reshape(-1, 1).to(x.dtype)
        sd = self.sigma_data
        F = self.net(c_in(sigma, sd) * x, c_noise(sigma).flatten())
        return c_skip(sigma, sd) * x + c_out(sigma, sd) * F


def training_noise(x: torch.Tensor, generator: torch.Generator, log_mean: float = P_MEAN,
                   log_std: float = P_STD) -> tuple[torch.Tensor, torch.Tensor]:
    """One noise level per row, ln(sigma) ~ N(log_mean, log_std^2), and the noise added to x."""
    z = torch.randn(x.shape[0], 1, generator=generator, device=x.device)
    sigma = (z * log_std + log_mean).exp()
    return sigma, torch.randn(x.shape, generator=generator, device=x.device) * sigma


def denoising_loss(denoiser, x: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor,
                   sigma_data: float = SIGMA_DATA) -> torch.Tensor:
    """The weighted squared error of denoising ``x + noise``, averaged over rows and entries."""
    return row_losses(denoiser, x, sigma, noise, sigma_data).mean()


def row_losses(denoiser, x: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor,
               sigma_data: float = SIGMA_DATA) -> torch.Tensor:
    """The weighted squared error of denoising each row of ``x + noise``, averaged over its
    entries."""
    denoised = denoiser(x + noise, sigma)
    return (loss_weight(sigma, sigma_data) * (denoised - x) ** 2).mean(dim=1)


def edm_loss(denoiser, x: torch.Tensor, generator: torch.Generator,
             sigma_data: float = SIGMA_DATA, log_mean: float = P_MEAN,
             log_std: float = P_STD) -> torch.Tensor:
    """Weighted denoising loss under fresh training noise (EDM eq. 2 and Table 1);
    ``denoiser`` is a :class:`Preconditioned` with that ``sigma_data`` (or a wrapper of one)."""
    sigma, noise = training_noise(x, generator, log_mean, log_std)
    return denoising_loss(denoiser, x, sigma, noise, sigma_data)


def karras_sigmas(n_steps: int, sigma_min: float, sigma_max: float,
                  rho: float = 7.0) -> torch.Tensor:
    """The EDM time steps sigma_0 > ... > sigma_{N-1}, followed by sigma_N = 0 (EDM eq. 5)."""
    ramp = torch.linspace(0, 1, n_steps, dtype=torch.float64)
    inv_rho = 1.0 / rho
    sigmas = (sigma_max**inv_rho + ramp * (sigma_min**inv_rho - sigma_max**inv_rho)) ** rho
    return torch.cat([sigmas, sigmas.new_zeros(1)])
