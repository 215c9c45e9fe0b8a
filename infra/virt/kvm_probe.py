"""Whether KVM on this host can really run a guest, by trying.

/dev/kvm existing proves little: on these machines it is PVM (KVM without
hardware virtualisation, `kvm-pvm` in the kernel log), which creates VMs
and runs real-mode code but never gets a stock kernel past the switch to
protected mode (the Debian kernel stops right after "Probing EDD", the last
thing its real-mode setup prints). So the probe boots the smallest guest
that makes the same journey: a 64 KiB firmware that starts at the reset
vector in real mode, enters protected mode, turns on paging and long mode,
and then writes to QEMU's isa-debug-exit port, which ends QEMU with status
(0x2a << 1) | 1 = 85. It reports each stage on the debug console (port
0x402: R, P, L), so a failure says how far the guest got. Under TCG the
same firmware exits at once, which is how tests check the probe itself.

The firmware's machine code is embedded, assembled from PROBE_SOURCE with
`as --64` and `ld -Ttext=0xf0000 --oformat binary` (a test reassembles it
when binutils are installed and compares).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

KVM_DEVICE = Path("/dev/kvm")
QEMU = "qemu-system-x86_64"
EXIT_PORT = 0xF4
DEBUG_PORT = 0x402
PASSED = (0x2A << 1) | 1  # what isa-debug-exit makes of the firmware's 0x2a
ROM_SIZE = 0x10000
RESET_OFFSET = 0xFFF0
# Long enough for QEMU to start on a loaded host; a working accelerator
# finishes in milliseconds, a broken one hangs until killed.
DEFAULT_TIMEOUT = 3.0
STAGES = {"": "before the first instruction", "R": "in real mode", "P": "in protected mode"}

PROBE_SOURCE = """\
        .code16
        .globl _start
_start:                         # F000:0000, linear 0xF0000
        cli
        mov     $0x402, %dx
        mov     $'R', %al
        out     %al, %dx
        mov     $0xf000, %ax
        mov     %ax, %ds
        lgdtl   gdt_desc - 0xf0000
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $pm32
        .code32
pm32:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x402, %dx
        mov     $'P', %al
        out     %al, %dx
        mov     $0x1000, %edi       # PML4, PDPT, PD at 0x1000..0x3fff
        xor     %eax, %eax
        mov     $3072, %ecx
        rep stosl
        movl    $0x2003, 0x1000
        movl    $0x3003, 0x2000
        movl    $0x83, 0x3000       # one 2 MiB page, identity-mapped
        mov     $0x1000, %eax
        mov     %eax, %cr3
        mov     %cr4, %eax
        or      $0x20, %eax         # PAE
        mov     %eax, %cr4
        mov     $0xc0000080, %ecx   # EFER.LME
        rdmsr
        or      $0x100, %eax
        wrmsr
        mov     %cr0, %eax
        or      $0x80000000, %eax   # paging on: long mode
        mov     %eax, %cr0
        ljmp    $0x18, $lm64
        .code64
lm64:
        mov     $0x402, %dx
        mov     $'L', %al
        out     %al, %dx
        mov     $0x2a, %al
        out     %al, $0xf4
1:      hlt
        jmp     1b
        .balign 8
gdt:
        .quad   0
        .quad   0x00cf9a000000ffff  # 0x08: 32-bit code
        .quad   0x00cf92000000ffff  # 0x10: data
        .quad   0x00af9a000000ffff  # 0x18: 64-bit code
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   gdt
        .org    0xfff0
        .code16
reset:                          # F000:FFF0, the reset vector
        ljmp    $0xf000, $0
        .org    0x10000
"""

_CODE = bytes.fromhex(
    "faba0204b052eeb800f08ed8660f0116c0000f20c06683c8010f22c066ea2400"
    "0f00080066b810008ed88ec08ed066ba0204b050eebf0010000031c0b9000c00"
    "00f3abc7050010000003200000c7050020000003300000c70500300000830000"
    "00b8001000000f22d80f20e083c8200f22e0b9800000c00f320d000100000f30"
    "0f20c00d000000800f22c0ea92000f00180066ba0204b04ceeb02ae6f4f4ebfd"
    "0000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf00"
    "1f00a0000f00"
)
_RESET = bytes.fromhex("ea0000" + "00f0")  # ljmp $0xf000, $0


def probe_rom() -> bytes:
    """The 64 KiB firmware image QEMU maps below 1 MiB and at 4 GiB."""
    rom = bytearray(ROM_SIZE)
    rom[: len(_CODE)] = _CODE
    rom[RESET_OFFSET : RESET_OFFSET + len(_RESET)] = _RESET
    return bytes(rom)


@dataclass(frozen=True)
class Verdict:
    works: bool
    reason: str


def probe_command(qemu: str, accel: str, rom: Path, debug_log: Path) -> list[str]:
    return [
        qemu,
        "-accel",
        accel,
        "-machine",
        "pc",
        "-m",
        "16",
        "-nodefaults",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-bios",
        str(rom),
        "-device",
        f"isa-debug-exit,iobase={EXIT_PORT:#x},iosize=1",
        "-chardev",
        f"file,id=probe,path={debug_log}",
        "-device",
        f"isa-debugcon,iobase={DEBUG_PORT:#x},chardev=probe",
    ]


def run_probe(accel: str, qemu: str, timeout: float = DEFAULT_TIMEOUT) -> Verdict:
    """Boot the probe firmware under `accel` ("kvm" or "tcg")."""
    with tempfile.TemporaryDirectory(prefix="strata-kvm-probe-") as folder:
        rom, debug_log = Path(folder) / "probe.rom", Path(folder) / "stages"
        rom.write_bytes(probe_rom())
        command = probe_command(qemu, accel, rom, debug_log)
        try:
            done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return Verdict(False, _stuck(accel, debug_log, f"did not finish in {timeout:g}s"))
        except OSError as error:
            return Verdict(False, f"cannot run {qemu}: {error}")
        if done.returncode == PASSED:
            return Verdict(True, f"a probe guest reached 64-bit mode under {accel}")
        errors = done.stderr.decode(errors="replace").strip().splitlines()
        detail = f"exited with status {done.returncode}" + (f": {errors[-1]}" if errors else "")
        return Verdict(False, _stuck(accel, debug_log, detail))


def _stuck(accel: str, debug_log: Path, what: str) -> str:
    try:
        reached = debug_log.read_text(errors="replace").strip()
    except FileNotFoundError:
        reached = ""
    where = STAGES.get(reached, f"after stages {reached!r}")
    return f"a probe guest under {accel} {what}, stuck {where}"


def probe_kvm(
    device: Path = KVM_DEVICE, qemu: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Verdict:
    """Whether guests can use KVM here, and why (or why not)."""
    if not device.exists():
        return Verdict(False, f"{device} does not exist")
    if not os.access(device, os.R_OK | os.W_OK):
        return Verdict(False, f"{device} is not readable and writable by this process")
    binary = qemu or shutil.which(QEMU)
    if binary is None:
        return Verdict(False, f"{QEMU} is not installed")
    verdict = run_probe("kvm", binary, timeout)
    if verdict.works:
        return verdict
    # Said plainly, since the device is there: it cannot boot a stock kernel.
    return Verdict(False, f"{device} cannot boot a stock kernel ({verdict.reason})")
