import time

import torch
from torch._inductor import cpu_vec_isa

print("isa", cpu_vec_isa.pick_vec_isa(), "sve?", torch.backends.cpu.get_cpu_capability(), flush=True)
t = time.time()
f = torch.compile(lambda x: (x.sin() + x.cos()).sum(1))
x = torch.randn(64, 64)
print("ok", torch.allclose(f(x), (x.sin() + x.cos()).sum(1), atol=1e-5), round(time.time() - t, 1), flush=True)
