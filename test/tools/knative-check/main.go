// knative-check runs Knative Serving's own admission code over Knative objects, offline: the
// defaulting and validation that Serving's webhook (cmd/webhook) applies when an object is created,
// with the configuration that a KnativeServing resource makes the Knative Operator write into
// Serving's ConfigMaps. It also validates those ConfigMaps as the webhook's ConfigMap validation does.
//
// Usage:
//
//	knative-check [-knative-serving FILE] [-namespace NS] [-username NAME] [FILE|-]...
//
// Input files (stdin when none or "-") hold YAML or JSON documents; every serving.knative.dev object
// among them is checked, other documents are skipped. The output is one JSON object per line: one
// per ConfigMap that spec.config sets, then one per Knative object, each with "ok" and, when not ok,
// Knative's own message in "error". Exit status: 0 all accepted, 1 something refused, 2 bad input.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"sort"
	"strings"

	"go.uber.org/zap"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"knative.dev/pkg/apis"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/leaderelection"
	"knative.dev/pkg/logging"
	webhookjson "knative.dev/pkg/webhook/json"
	"knative.dev/pkg/webhook/resourcesemantics"

	netcfg "knative.dev/networking/pkg/config"
	apisconfig "knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingv1beta1 "knative.dev/serving/pkg/apis/serving/v1beta1"
	autoscalerconfig "knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/deployment"
	"knative.dev/serving/pkg/gc"
	o11yconfigmap "knative.dev/serving/pkg/observability/configmap"
	certconfig "knative.dev/serving/pkg/reconciler/certificate/config"
	domainconfig "knative.dev/serving/pkg/reconciler/route/config"
)

// The serving.knative.dev kinds Serving's webhook defaults and validates (cmd/webhook/main.go).
var types = map[schema.GroupVersionKind]resourcesemantics.GenericCRD{
	servingv1.SchemeGroupVersion.WithKind("Service"):            &servingv1.Service{},
	servingv1.SchemeGroupVersion.WithKind("Configuration"):      &servingv1.Configuration{},
	servingv1.SchemeGroupVersion.WithKind("Route"):              &servingv1.Route{},
	servingv1.SchemeGroupVersion.WithKind("Revision"):           &servingv1.Revision{},
	servingv1beta1.SchemeGroupVersion.WithKind("DomainMapping"): &servingv1beta1.DomainMapping{},
}

// The ConfigMaps Serving's webhook validates, with the constructors it validates them with
// (newConfigValidationController in cmd/webhook/main.go).
func configConstructors(ctx context.Context) configmap.Constructors {
	return configmap.Constructors{
		autoscalerconfig.ConfigName:      autoscalerconfig.NewConfigFromConfigMap,
		gc.ConfigName:                    gc.NewConfigFromConfigMapFunc(ctx),
		netcfg.ConfigMapName:             netcfg.NewConfigFromConfigMap,
		deployment.ConfigName:            deployment.NewConfigFromConfigMap,
		apisconfig.FeaturesConfigName:    apisconfig.NewFeaturesConfigFromConfigMap,
		o11yconfigmap.Name():             o11yconfigmap.Parse,
		logging.ConfigMapName():          logging.NewConfigFromConfigMap,
		leaderelection.ConfigMapName():   leaderelection.NewConfigFromConfigMap,
		domainconfig.DomainConfigName:    domainconfig.NewDomainFromConfigMap,
		apisconfig.DefaultsConfigName:    apisconfig.NewDefaultsConfigFromConfigMap,
		certconfig.CertManagerConfigName: certconfig.NewCertManagerConfigFromConfigMap,
	}
}

// The data the release manifests ship in each ConfigMap the operator installs, before spec.config
// is merged in. Serving 1.23.0's ConfigMaps hold only `_example` (documentation, ignored by the
// parsers), except config-deployment's queue-sidecar-image, which its parser requires; config-kourier
// and config-tracing are installed too but not validated by Serving's webhook.
var releaseData = map[string]map[string]string{
	"config-autoscaler":      {},
	"config-certmanager":     {},
	"config-defaults":        {},
	"config-deployment":      {deployment.QueueSidecarImageKey: "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2"},
	"config-domain":          {},
	"config-features":        {},
	"config-gc":              {},
	"config-kourier":         {},
	"config-leader-election": {},
	"config-logging":         {},
	"config-network":         {},
	"config-observability":   {},
	"config-tracing":         {},
}

type result struct {
	Kind      string          `json:"kind"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace,omitempty"`
	Source    string          `json:"source"`
	OK        bool            `json:"ok"`
	Validated *bool           `json:"validated,omitempty"`
	Error     string          `json:"error,omitempty"`
	Webhook   string          `json:"webhook,omitempty"`
	Warnings  []string        `json:"warnings,omitempty"`
	Defaulted json.RawMessage `json:"defaulted,omitempty"`
}

type badInput struct{ msg string }

func (e badInput) Error() string { return e.msg }

func main() {
	servingFile := flag.String("knative-serving", "", "a file holding the KnativeServing resource whose spec.config sets Serving's ConfigMaps (release defaults without it)")
	namespace := flag.String("namespace", "default", "namespace of objects that name none (the namespace they are applied to)")
	username := flag.String("username", "system:serviceaccount:cattle-fleet-system:fleet-agent", "the user the objects are created as (recorded by Serving's defaulting)")
	version := flag.Bool("version", false, "print the knative.dev/serving version this was built with and exit")
	flag.Parse()

	if *version {
		fmt.Println(servingVersion())
		return
	}
	refused, err := run(*servingFile, *namespace, *username, flag.Args(), os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "knative-check: %v\n", err)
		os.Exit(2)
	}
	if refused {
		os.Exit(1)
	}
}

func servingVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "knative.dev/serving" {
				return m.Version
			}
		}
	}
	return "unknown"
}

func run(servingFile, namespace, username string, inputs []string, stdin io.Reader, stdout io.Writer) (bool, error) {
	logger := zap.NewNop().Sugar()
	ctx := logging.WithLogger(context.Background(), logger)
	out := json.NewEncoder(stdout)
	out.SetEscapeHTML(false)
	refused := false
	emit := func(r result) error {
		if !r.OK {
			refused = true
		}
		return out.Encode(r)
	}

	cms, setBy, err := configMaps(servingFile)
	if err != nil {
		return false, err
	}

	// The ConfigMaps first: the operator writes them, and Serving's webhook refuses a bad one.
	constructors := configConstructors(ctx)
	configOK := true
	names := make([]string, 0, len(setBy))
	for name := range setBy {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := result{Kind: "ConfigMap", Name: name, Namespace: "knative-serving", Source: setBy[name], OK: true}
		constructor, known := constructors[name]
		validated := known
		r.Validated = &validated
		if known {
			r.Webhook = "config.webhook.serving.knative.dev"
			if err := callConstructor(constructor, cms[name]); err != nil {
				r.OK, r.Error = false, err.Error()
				configOK = false
			}
		}
		if err := emit(r); err != nil {
			return false, err
		}
	}
	// Every ConfigMap must parse before its values are used below (the webhook would not start).
	for name, constructor := range constructors {
		if _, shown := setBy[name]; shown {
			continue
		}
		if err := callConstructor(constructor, cms[name]); err != nil {
			return false, fmt.Errorf("the release data of %s does not parse: %w", name, err)
		}
	}

	// The context Serving's webhook hands SetDefaults and Validate: its config store, fed with the
	// ConfigMaps the store watches (pkg/apis/config.NewStore: config-defaults, config-features,
	// config-autoscaler).
	store := apisconfig.NewStore(logger)
	for _, name := range []string{apisconfig.DefaultsConfigName, apisconfig.FeaturesConfigName, autoscalerconfig.ConfigName} {
		if configOK {
			store.OnConfigChanged(cms[name])
		}
	}
	userInfo := &authenticationv1.UserInfo{Username: username}

	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	checked := 0
	for _, input := range inputs {
		docs, err := readDocs(input, stdin)
		if err != nil {
			return false, err
		}
		for i, doc := range docs {
			gvk := doc.GroupVersionKind()
			if gvk.Group != servingv1.SchemeGroupVersion.Group {
				continue
			}
			checked++
			source := fmt.Sprintf("%s#%d", displayName(input), i)
			if doc.GetNamespace() == "" {
				doc.SetNamespace(namespace)
			}
			r := result{Kind: gvk.Kind, Name: doc.GetName(), Namespace: doc.GetNamespace(), Source: source}
			prototype, ok := types[gvk]
			switch {
			case !ok:
				r.Error = fmt.Sprintf("%s is not a kind Serving's webhook admits", gvk)
			case !configOK:
				r.Error = "not checked: a ConfigMap above is refused"
			default:
				r = admit(store.ToContext(ctx), prototype, doc, userInfo, r)
			}
			if err := emit(r); err != nil {
				return false, err
			}
		}
	}
	if checked == 0 {
		return false, badInput{"no serving.knative.dev object in the input"}
	}
	return refused, nil
}

// admit does what Serving's defaulting and then validation webhook do on create, in the order the
// API server calls them: decode, SetDefaults, record the creator, then Validate the stored form.
func admit(ctx context.Context, prototype resourcesemantics.GenericCRD, doc *unstructured.Unstructured, user *authenticationv1.UserInfo, r result) result {
	raw, err := json.Marshal(doc.Object)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	obj := prototype.DeepCopyObject().(resourcesemantics.GenericCRD)
	if err := webhookjson.Decode(raw, obj, false); err != nil {
		r.Webhook = "webhook.serving.knative.dev"
		r.Error = fmt.Sprintf("cannot decode incoming new object: %v", err)
		return r
	}
	dctx := apis.WithUserInfo(apis.WithinCreate(ctx), user)
	obj.SetDefaults(dctx)
	if _, hasSpec := obj.(apis.HasSpec); hasSpec {
		// knative.dev/pkg's defaulting webhook records who created the object on create.
		meta := obj.(metav1.ObjectMetaAccessor).GetObjectMeta()
		annotations := meta.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[servingv1.SchemeGroupVersion.Group+apis.CreatorAnnotationSuffix] = user.Username
		annotations[servingv1.SchemeGroupVersion.Group+apis.UpdaterAnnotationSuffix] = user.Username
		meta.SetAnnotations(annotations)
	}
	defaulted, err := json.Marshal(obj)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Defaulted = defaulted

	stored := prototype.DeepCopyObject().(resourcesemantics.GenericCRD)
	if err := webhookjson.Decode(defaulted, stored, false); err != nil {
		r.Webhook = "validation.webhook.serving.knative.dev"
		r.Error = fmt.Sprintf("cannot decode incoming new object: %v", err)
		return r
	}
	vctx := apis.WithinCreate(apis.WithUserInfo(ctx, user))
	if fe := stored.Validate(vctx); fe != nil {
		if w := fe.Filter(apis.WarningLevel); w != nil {
			for _, e := range w.WrappedErrors() {
				r.Warnings = append(r.Warnings, e.Error())
			}
		}
		if e := fe.Filter(apis.ErrorLevel); e != nil {
			r.Webhook = "validation.webhook.serving.knative.dev"
			r.Error = e.Error()
			return r
		}
	}
	r.OK = true
	return r
}

func callConstructor(constructor interface{}, cm *corev1.ConfigMap) error {
	outputs := reflect.ValueOf(constructor).Call([]reflect.Value{reflect.ValueOf(cm)})
	if errVal := outputs[1]; !errVal.IsNil() {
		return errVal.Interface().(error)
	}
	return nil
}

// configMaps builds Serving's ConfigMaps as the Knative Operator writes them: the release data,
// overwritten key by key with spec.config.<name>, where <name> is the ConfigMap's name or that name
// without its "config-" prefix (knative/operator pkg/reconciler/common/config_maps.go; the full name
// wins when both are given). It returns the maps and, for each one spec.config sets, where.
func configMaps(servingFile string) (map[string]*corev1.ConfigMap, map[string]string, error) {
	cms := map[string]*corev1.ConfigMap{}
	for name, data := range releaseData {
		copied := map[string]string{}
		for k, v := range data {
			copied[k] = v
		}
		cms[name] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "knative-serving"}, Data: copied}
	}
	setBy := map[string]string{}
	if servingFile == "" {
		return cms, setBy, nil
	}
	docs, err := readDocs(servingFile, nil)
	if err != nil {
		return nil, nil, err
	}
	var ks *unstructured.Unstructured
	for _, d := range docs {
		if d.GetKind() == "KnativeServing" && d.GroupVersionKind().Group == "operator.knative.dev" {
			if ks != nil {
				return nil, nil, badInput{fmt.Sprintf("%s: more than one KnativeServing", servingFile)}
			}
			ks = d
		}
	}
	if ks == nil {
		return nil, nil, badInput{fmt.Sprintf("%s: no operator.knative.dev KnativeServing in it", servingFile)}
	}
	where := fmt.Sprintf("%s: KnativeServing %s/%s", displayName(servingFile), ks.GetNamespace(), ks.GetName())
	spec, _ := ks.Object["spec"].(map[string]interface{})
	config, ok := spec["config"].(map[string]interface{})
	if spec["config"] != nil && !ok {
		return nil, nil, badInput{fmt.Sprintf("%s: spec.config must be a map", where)}
	}
	// spec.config is map[string]map[string]string in the KnativeServing CRD: a number or a boolean
	// there is refused by the API server, so refuse it here with the field's path.
	typed := map[string]map[string]string{}
	var problems []string
	for key, v := range config {
		m, ok := v.(map[string]interface{})
		if !ok {
			problems = append(problems, fmt.Sprintf("spec.config.%s must be a map of strings", key))
			continue
		}
		typed[key] = map[string]string{}
		for k, val := range m {
			s, ok := val.(string)
			if !ok {
				problems = append(problems, fmt.Sprintf("spec.config.%s.%s must be a string (quote it): got %v", key, k, val))
				continue
			}
			typed[key][k] = s
		}
	}
	used := map[string]bool{}
	for name, cm := range cms {
		key := name
		data, ok := typed[key]
		if !ok {
			key = strings.TrimPrefix(name, "config-")
			data, ok = typed[key]
		}
		if !ok {
			continue
		}
		used[key] = true
		for k, v := range data {
			cm.Data[k] = v
		}
		setBy[name] = fmt.Sprintf("%s spec.config.%s", where, key)
	}
	for key := range typed {
		switch {
		case used[key]:
		case used["config-"+key]:
			problems = append(problems, fmt.Sprintf("spec.config.%s is ignored: the operator uses spec.config.config-%s instead", key, key))
		default:
			problems = append(problems, fmt.Sprintf("spec.config.%s names no ConfigMap that Knative Serving installs; the operator ignores it", key))
		}
	}
	// The operator's security transformer allows the podinfo mount that Security Guard needs
	// (knative/operator pkg/reconciler/knativeserving/security/securityguard.go).
	if enabled, _, _ := unstructured.NestedBool(ks.Object, "spec", "security", "securityGuard", "enabled"); enabled {
		cms[apisconfig.FeaturesConfigName].Data["queueproxy.mount-podinfo"] = "allowed"
		if _, set := setBy[apisconfig.FeaturesConfigName]; !set {
			setBy[apisconfig.FeaturesConfigName] = where + " spec.security.securityGuard"
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, nil, badInput{fmt.Sprintf("%s: %s", where, strings.Join(problems, "; "))}
	}
	return cms, setBy, nil
}

func displayName(input string) string {
	if input == "-" {
		return "<stdin>"
	}
	return input
}

func readDocs(input string, stdin io.Reader) ([]*unstructured.Unstructured, error) {
	var r io.Reader
	if input == "-" {
		if stdin == nil {
			return nil, badInput{"stdin cannot hold the KnativeServing and the objects at once"}
		}
		r = stdin
	} else {
		f, err := os.Open(input)
		if err != nil {
			return nil, badInput{err.Error()}
		}
		defer f.Close()
		r = f
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var docs []*unstructured.Unstructured
	for {
		var obj map[string]interface{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, badInput{fmt.Sprintf("%s: %v", displayName(input), err)}
		}
		if len(obj) == 0 {
			continue
		}
		docs = append(docs, &unstructured.Unstructured{Object: obj})
	}
	return docs, nil
}
