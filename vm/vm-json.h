/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON helpers of the VM library (vm-json.c).  The getters take whatever
 * QEMU, the guest agent or a state file sent: a key that is missing or
 * of another type gives the default, never json-c's assertion on a
 * wrong type (json_object_array_length of an object aborts). */
#ifndef MORTAR_VM_VM_JSON_H
#define MORTAR_VM_VM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

void vm_json_put_str(json_object *o, const char *key, const char *s);
void vm_json_put_int(json_object *o, const char *key, int64_t n);

/* O's KEY: a string ("" otherwise), a whole number (DFLT otherwise), a
 * boolean (false otherwise), an object or an array (NULL otherwise). */
const char *vm_json_str(json_object *o, const char *key);
int64_t vm_json_int(json_object *o, const char *key, int64_t dflt);
bool vm_json_bool(json_object *o, const char *key);
json_object *vm_json_obj(json_object *o, const char *key);
json_object *vm_json_arr(json_object *o, const char *key);
/* The length of A if it is an array, else 0. */
size_t vm_json_len(json_object *a);

#endif
