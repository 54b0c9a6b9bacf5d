// The source of corpus/tiny.elf and corpus/tiny-stripped.elf (944 and 440 bytes), built with:
//   aarch64-linux-gnu-gcc -nostdlib -static -Wl,-N -Wl,-z,max-page-size=0x10 -Wl,-Ttext=0x40000000 \
//     -Wl,--no-warn-rwx-segments -Wl,--build-id=none -o tiny.elf tiny.S
//   aarch64-linux-gnu-strip --strip-debug -R .comment -N '$x' -N '$d' tiny.elf
//   aarch64-linux-gnu-strip --strip-all -o tiny-stripped.elf tiny.elf

// A guest that exits through semihosting SYS_EXIT with ADP_Stopped_ApplicationExit.
    .text
    .global _start
    .type _start, %function
_start:
    mov     x0, #0x18
    ldr     x1, =exit_block
    hlt     #0xf000
1:  b       1b
    .size _start, . - _start
    .data
    .type exit_block, %object
exit_block:
    .quad   0x20026, 0
    .size exit_block, . - exit_block
