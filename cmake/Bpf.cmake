# Build BPF objects the libbpf-bootstrap way: vmlinux.h from this kernel's BTF, clang -target bpf,
# `bpftool gen skeleton`, and one INTERFACE target per skeleton that userspace links against.
find_program(BPF_CLANG NAMES clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(ZDD_VMLINUX_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH "BTF blob vmlinux.h is generated from")
if(NOT EXISTS "${ZDD_VMLINUX_BTF}")
  message(FATAL_ERROR "zdd: ${ZDD_VMLINUX_BTF} is missing: the kernel has no BTF "
                      "(CONFIG_DEBUG_INFO_BTF=y is needed), so vmlinux.h cannot be generated. "
                      "Point ZDD_VMLINUX_BTF at a BTF file of a kernel that has it.")
endif()

set(ZDD_BPF_GEN_DIR "${CMAKE_BINARY_DIR}/bpf")
file(MAKE_DIRECTORY "${ZDD_BPF_GEN_DIR}")
add_custom_command(
  OUTPUT "${ZDD_BPF_GEN_DIR}/vmlinux.h"
  COMMAND "${BPFTOOL}" btf dump file "${ZDD_VMLINUX_BTF}" format c > "${ZDD_BPF_GEN_DIR}/vmlinux.h.tmp"
  COMMAND ${CMAKE_COMMAND} -E rename "${ZDD_BPF_GEN_DIR}/vmlinux.h.tmp" "${ZDD_BPF_GEN_DIR}/vmlinux.h"
  COMMENT "Generating vmlinux.h from ${ZDD_VMLINUX_BTF}"
  VERBATIM)
add_custom_target(zdd_vmlinux_h DEPENDS "${ZDD_BPF_GEN_DIR}/vmlinux.h")

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|amd64")
  set(ZDD_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(ZDD_BPF_ARCH arm64)
else()
  set(ZDD_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

# bpf_object(NAME SOURCE [SKEL_NAME S] [HEADERS ...]): NAME.bpf.o, NAME.skel.h, INTERFACE target
# NAME_skel. SKEL_NAME names the skeleton's C struct and functions (default NAME): `struct
# drainmon` would clash with C++ `namespace drainmon`.
function(bpf_object name src)
  cmake_parse_arguments(ARG "" "SKEL_NAME" "HEADERS" ${ARGN})
  if(NOT ARG_SKEL_NAME)
    set(ARG_SKEL_NAME ${name})
  endif()
  set(obj "${ZDD_BPF_GEN_DIR}/${name}.bpf.o")
  set(skel "${ZDD_BPF_GEN_DIR}/${name}.skel.h")
  get_filename_component(src_abs "${src}" ABSOLUTE)
  set(werror "")
  if(CMAKE_COMPILE_WARNING_AS_ERROR)
    set(werror -Werror)
  endif()
  add_custom_command(
    OUTPUT "${obj}"
    COMMAND "${BPF_CLANG}" -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_${ZDD_BPF_ARCH}
            -Wall ${werror} -Wno-unused-function
            -I "${ZDD_BPF_GEN_DIR}" -I "${PROJECT_SOURCE_DIR}/bpf"
            -c "${src_abs}" -o "${obj}"
    DEPENDS "${src_abs}" ${ARG_HEADERS} "${ZDD_BPF_GEN_DIR}/vmlinux.h"
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT "${skel}"
    COMMAND "${BPFTOOL}" gen skeleton "${obj}" name "${ARG_SKEL_NAME}" > "${skel}.tmp"
    COMMAND ${CMAKE_COMMAND} -E rename "${skel}.tmp" "${skel}"
    DEPENDS "${obj}"
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS "${skel}")
  # vmlinux.h is made by a command of the top-level directory: order through its target.
  add_dependencies(${name}_skel_gen zdd_vmlinux_h)
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE "${ZDD_BPF_GEN_DIR}" "${PROJECT_SOURCE_DIR}/bpf")
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
