"""What this machine is: CPU, RAM, GPUs and their VRAM, memory bandwidth, llama.cpp's system info.

The layer just above the base modules (errors, paths, llama_build, ...): it imports nothing from
models, backends, labs, bench or cli, so every layer above may ask it. Modules:

- cpu.py: CPU model, physical/logical/usable cores, the default thread count
- memory.py: RAM, and the MiB/GiB units
- gpu.py: the one GPU type (GpuInfo), detection (NVML, else nvidia-smi), the one VRAM probe and the
  peak sampler built on it; everything degrades to "no GPU"
- bandwidth.py: memory-copy rates (numpy; torch or cupy for a GPU when installed)
- llama_info.py: llama.cpp's system info (compiled features), version, GPU offload, how it was built
- machine.py: all of it as one dict, for `harness doctor` and the leaderboard

No host names or user names anywhere: these facts go into result files that are meant to be shared.
"""
