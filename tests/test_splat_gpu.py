"""The CPU reference rasterizer against gsplat's CUDA one (skips without a GPU and gsplat)."""
import importlib.util

import numpy as np
import pytest
import torch

from entrozip.codecs.splat.render import orbit_cameras, render

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available() or importlib.util.find_spec("gsplat") is None, reason="needs CUDA and gsplat")]


def test_cpu_renderer_matches_gsplat():
    from test_splat import make_cloud

    from entrozip.train.splat import View, render_gsplat

    cloud = make_cloud(3000, degree=2, seed=5)
    cloud.log_scales[:] -= 1.0
    for cam in orbit_cameras(cloud, 3, 96):
        K = torch.tensor([[cam.fx, 0, cam.cx], [0, cam.fy, cam.cy], [0, 0, 1]], dtype=torch.float32)
        view = View(torch.zeros(cam.height, cam.width, 3), K, torch.from_numpy(cam.world_to_cam).float(), "orbit")
        gpu = render_gsplat(cloud, [view], 2, (0.0, 0.0, 0.0))[0].cpu().numpy()
        cpu = np.clip(render(cloud, cam), 0, 1)
        assert np.abs(gpu - cpu).mean() < 2e-3 and np.abs(gpu - cpu).max() < 0.05
