#!/bin/sh
# Regenerates the shipped model (README.md): five teachers, a student distilled from them,
# two more learning-rate cycles of the student, four wider teachers and a fourth cycle
# distilled from them, quantisation-aware fine-tuning, then the f32 + int8 export into models/.
# Every step resumes from its checkpoints, so rerun this after any interruption; finished
# steps are skipped. Hours on a GPU, days on a 2-core CPU.
set -eu
cd "$(dirname "$0")"
PY=${PYTHON:-.venv/bin/python}
step() { run=$1; shift; "$PY" train.py --resume --train-only --cache runs --run "runs/$run" "$@"; }

step teacher-s2-seed0 --arch s2 --seed 0
step teacher-s2-seed1 --arch s2 --seed 1
step teacher-vgg8-seed0 --arch vgg8 --seed 0
step teacher-vgg8-seed1 --arch vgg8 --seed 1
step teacher-p8-seed1 --arch p8 --seed 1
set --
for t in s2-seed0 s2-seed1 vgg8-seed0 vgg8-seed1 p8-seed1; do set -- "$@" --teacher "runs/teacher-$t/best.pt"; done
step student --seed 12 --epochs 72 --kd-alpha 0.7 --kd-temp 2 "$@"
step student-cycle2 --seed 21 --epochs 34 --lr 0.01 --kd-alpha 0.7 --kd-temp 2 --init-from runs/student/best.pt "$@"
step student-cycle3 --seed 31 --epochs 12 --lr 0.005 --warmup 1 --kd-alpha 0.7 --kd-temp 2 --init-from runs/student-cycle2/best.pt "$@"
# Wider teachers (a teacher has no MAC limit), then a fourth cycle distilled from them alone.
step teacher-vgg8w64-seed2 --arch vgg8 --width 64 --seed 2 --epochs 49
step teacher-vgg8w64-seed3 --arch vgg8 --width 64 --seed 3 --epochs 50
step teacher-s2w64-seed2 --arch s2 --width 64 --seed 2 --epochs 52
step teacher-s2w48-seed3 --arch s2 --width 48 --seed 3 --epochs 66
set --
for t in vgg8w64-seed2 vgg8w64-seed3 s2w64-seed2 s2w48-seed3; do set -- "$@" --teacher "runs/teacher-$t/best.pt"; done
step student-cycle4 --seed 44 --epochs 30 --lr 0.01 --kd-alpha 0.7 --kd-temp 2 --init-from runs/student-cycle3/best.pt "$@"
# Quantisation-aware fine-tuning, still distilled from the wider teachers.
step student-int8 --qat --seed 65 --epochs 22 --lr 0.01 --kd-alpha 0.7 --kd-temp 2 \
    --init-from runs/student-cycle4/best.pt "$@"
"$PY" train.py --export-only --cache runs --run runs/student-int8
