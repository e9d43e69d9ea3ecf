#!/usr/bin/env bash
# Gradescope builds the autograder image with this (Ubuntu). Zip this folder's two files
# together with exercises/ (at the zip's top) and upload it as the autograder.
set -euo pipefail
apt-get update -q && apt-get install -y -q python3 python3-venv python3-pip
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install "ipcgrader @ git+https://github.com/your-org/ipcgrader@v1"
