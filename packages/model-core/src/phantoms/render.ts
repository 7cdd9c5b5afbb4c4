import { createRng, type Rng } from './random.js';

/** Class folder names, as in the Kaggle "Brain Tumor Classification (MRI)" set. */
export const PHANTOM_CLASSES = ['glioma_tumor', 'meningioma_tumor', 'no_tumor', 'pituitary_tumor'] as const;
export type PhantomClass = (typeof PHANTOM_CLASSES)[number];

export interface RenderPhantomOptions {
  cls: PhantomClass;
  /** Side length in pixels. */
  size: number;
  /** Seeds the head: position, scale, rotation, gyri, ventricles, tissue texture. */
  anatomySeed: string | number;
  /** Seeds the lesion and the acquisition (contrast, bias field, noise, brightness). */
  lesionSeed: string | number;
}

/** Where the head lies in the image, in pixels: an ellipse with semi-axes ax (left-right) and ay. */
export interface HeadGeometry {
  cx: number;
  cy: number;
  ax: number;
  ay: number;
  /** Rotation of the head in radians. */
  angle: number;
}

export interface RenderedPhantom {
  size: number;
  /** Greyscale pixels, row-major, 0–255. */
  pixels: Uint8Array;
  /** 1 where the lesion (tumour core, meningioma disk, pituitary mass) covers the pixel. */
  lesionMask: Uint8Array;
  /**
   * 1 wherever the lesion changed the image noticeably: the mask plus what goes with the lesion
   * around it (glioma oedema, meningioma CSF cleft and dural tail, the dark sella ring).
   */
  lesionExtent: Uint8Array;
  head: HeadGeometry;
}

// Head-normalised radii (1 = outer edge of the scalp): scalp, skull, subarachnoid CSF, brain.
const SKULL_OUTER = 0.93;
const SKULL_INNER = 0.875;
const BRAIN_EDGE = 0.85;

/** Coverage of the region "d < edge" with a linear ramp of width w (anti-aliased edges). */
function inside(d: number, edge: number, w: number): number {
  const t = 0.5 - (d - edge) / w;
  return t <= 0 ? 0 : t >= 1 ? 1 : t;
}

function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** Smooth random field on the head (value noise on a grid of n×n, bilinear). */
class ValueNoise {
  private readonly grid: Float32Array;
  constructor(
    rng: Rng,
    private readonly n: number,
  ) {
    this.grid = new Float32Array(n * n);
    for (let i = 0; i < this.grid.length; i++) this.grid[i] = rng.next() * 2 - 1;
  }
  /** u, v in about [-1.1, 1.1]; returns about [-1, 1]. */
  at(u: number, v: number): number {
    const n = this.n;
    const gx = Math.min(n - 1.001, Math.max(0, ((u + 1.1) / 2.2) * (n - 1)));
    const gy = Math.min(n - 1.001, Math.max(0, ((v + 1.1) / 2.2) * (n - 1)));
    const ix = Math.floor(gx);
    const iy = Math.floor(gy);
    const fx = gx - ix;
    const fy = gy - iy;
    const g = this.grid;
    const a = g[iy * n + ix]!;
    const b = g[iy * n + ix + 1]!;
    const c = g[(iy + 1) * n + ix]!;
    const d = g[(iy + 1) * n + ix + 1]!;
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
  }
}

/** A closed blob whose radius wobbles with angle: r(φ) = r0 (1 + Σ a_k sin(kφ + p_k)). */
class Blob {
  private readonly amps: number[] = [];
  private readonly phases: number[] = [];
  readonly maxRadius: number;
  constructor(
    rng: Rng,
    readonly r0: number,
    irregularity: number,
  ) {
    let sum = 0;
    for (let k = 2; k <= 5; k++) {
      const a = rng.uniform(0, irregularity) / (k - 1);
      this.amps.push(a);
      this.phases.push(rng.uniform(0, 2 * Math.PI));
      sum += a;
    }
    this.maxRadius = r0 * (1 + sum);
  }
  radius(phi: number): number {
    let f = 1;
    for (let i = 0; i < this.amps.length; i++) f += this.amps[i]! * Math.sin((i + 2) * phi + this.phases[i]!);
    return this.r0 * f;
  }
}

/** Paints one class's lesion over the tissue intensity at head coordinates (u, v). */
interface Lesion {
  /**
   * Returns the new intensity; sets out.mask to 1 where the lesion proper covers the point.
   * `phi` (angle on the head) is only computed near the cortex (r > 0.65), else 0.
   */
  paint(
    u: number,
    v: number,
    r: number,
    phi: number,
    tissue: number,
    brain: number,
    out: { mask: number },
  ): number;
}

function glioma(rng: Rng, tex: ValueNoise): Lesion {
  // Intra-axial: anywhere in the hemispheres' white/grey matter, away from the cortex edge.
  const rho = rng.uniform(0.15, 0.5);
  const theta = rng.uniform(0, 2 * Math.PI);
  const gu = rho * Math.cos(theta);
  const gv = rho * Math.sin(theta);
  const core = new Blob(rng, rng.uniform(0.11, 0.19), 0.45);
  const oedema = new Blob(rng, core.r0 * rng.uniform(1.7, 2.2), 0.35);
  const necrosis = rng.uniform(0.3, 0.55);
  const rimI = rng.uniform(0.85, 1.0);
  const necI = rng.uniform(0.25, 0.45);
  const oedI = rng.uniform(0.75, 0.9);
  const reach = Math.max(core.maxRadius, oedema.maxRadius);
  return {
    paint(u, v, _r, _phi, tissue, brain, out) {
      const du = u - gu;
      const dv = v - gv;
      const lr = Math.sqrt(du * du + dv * dv);
      if (lr > reach || brain <= 0) return tissue;
      const lphi = Math.atan2(dv, du);
      const rc = core.radius(lphi);
      const ro = oedema.radius(lphi);
      // Oedema: a soft halo fading out from the core to its irregular outer border.
      const oed = (1 - smoothstep(rc, ro, lr)) * 0.75 * brain;
      let value = tissue + (oedI - tissue) * oed;
      const c = inside(lr, rc, 0.02) * brain;
      if (c > 0) {
        const rel = lr / rc;
        const coreI = (rel < necrosis ? necI : rimI) * (1 + 0.12 * tex.at(u * 3, v * 3));
        value += (coreI - value) * c;
        if (c > 0.5) out.mask = 1;
      }
      return value;
    },
  };
}

function meningioma(rng: Rng): Lesion {
  // Extra-axial and dural-based: a round, sharply bounded mass pressed against the inner skull.
  const theta = rng.uniform(0, 2 * Math.PI);
  const rm = rng.uniform(0.12, 0.19);
  const rho = SKULL_INNER - rm * rng.uniform(0.75, 0.95);
  const mu = rho * Math.cos(theta);
  const mv = rho * Math.sin(theta);
  const massI = rng.uniform(0.82, 0.97);
  const cleftI = rng.uniform(0.08, 0.2);
  const tailSpan = rm * rng.uniform(1.8, 2.6);
  return {
    paint(u, v, r, phi, tissue, _brain, out) {
      if (r > SKULL_INNER + 0.01) return tissue;
      const du = u - mu;
      const dv = v - mv;
      const lr = Math.sqrt(du * du + dv * dv);
      let value = tissue;
      // Dural tail: the dura thickens and enhances on both sides of the attachment.
      if (r > BRAIN_EDGE - 0.02) {
        let dphi = Math.abs(phi - theta) % (2 * Math.PI);
        if (dphi > Math.PI) dphi = 2 * Math.PI - dphi;
        if (dphi < tailSpan)
          value += (massI * 0.85 - value) * (1 - dphi / tailSpan) * inside(-r, -(SKULL_INNER - 0.03), 0.02);
      }
      if (lr > rm + 0.05) return value;
      // A thin CSF cleft separates the mass from the brain it pushes in.
      value += (cleftI - value) * inside(lr, rm + 0.03, 0.015);
      const disk = inside(lr, rm, 0.012);
      value += (massI - value) * disk;
      if (disk > 0.5) out.mask = 1;
      return value;
    },
  };
}

function pituitary(rng: Rng): Lesion {
  // Small midline mass at the sella: on the midline, anterior to the third ventricle.
  const pu = rng.normal() * 0.012;
  const pv = rng.uniform(-0.42, -0.3);
  const rx = rng.uniform(0.06, 0.085);
  const ry = rx * rng.uniform(0.95, 1.3);
  const massI = rng.uniform(0.85, 1.0);
  const sellaI = rng.uniform(0.08, 0.2);
  return {
    paint(u, v, _r, _phi, tissue, brain, out) {
      const qu = (u - pu) / rx;
      const qv = (v - pv) / ry;
      const q = Math.sqrt(qu * qu + qv * qv);
      if (q > 1.6 || brain <= 0) return tissue;
      // The bony sella and CSF around the gland: a dark ring.
      let value = tissue + (sellaI - tissue) * inside(q, 1.35, 0.25) * brain;
      const gland = inside(q, 1, 0.25) * brain;
      value += (massI - value) * gland;
      if (gland > 0.5) out.mask = 1;
      return value;
    },
  };
}

function lesionFor(cls: PhantomClass, rng: Rng, tex: ValueNoise): Lesion | undefined {
  switch (cls) {
    case 'glioma_tumor':
      return glioma(rng, tex);
    case 'meningioma_tumor':
      return meningioma(rng);
    case 'pituitary_tumor':
      return pituitary(rng);
    case 'no_tumor':
      return undefined;
  }
}

/**
 * Renders one synthetic axial T2-like brain slice: scalp, skull, CSF, cortex with gyri,
 * white matter, lateral ventricles and falx, plus the class's lesion; then an acquisition
 * model (contrast curve, bias field, noise) and a brightness normalisation to a random
 * target mean, so that the mean intensity carries no information about the class.
 */
export function renderPhantom(options: RenderPhantomOptions): RenderedPhantom {
  const { cls, size: S } = options;
  const anat = createRng('anatomy', options.anatomySeed);
  const acq = createRng('lesion', options.lesionSeed, cls);

  // Head pose and shape.
  const ax = S * anat.uniform(0.33, 0.4);
  const ay = Math.min(S * 0.47, ax * anat.uniform(1.1, 1.25));
  const cx = S / 2 + anat.normal() * 0.03 * S;
  const cy = S / 2 + anat.normal() * 0.03 * S;
  const angle = anat.uniform(-0.3, 0.3);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const gyriN = Math.round(anat.uniform(18, 30));
  const gyriPhase = anat.uniform(0, 2 * Math.PI);
  const gyriAmp = anat.uniform(0.008, 0.016);
  const wmDepth = anat.uniform(0.12, 0.18);
  // Tissue intensities (T2-like: CSF bright would make ventricles bright; we use a T1-like
  // ordering that the real set mostly shows: CSF dark, white matter brighter than grey).
  const scalpI = anat.uniform(0.6, 0.9);
  const skullI = anat.uniform(0.05, 0.15);
  const csfI = anat.uniform(0.08, 0.2);
  const gmI = anat.uniform(0.4, 0.55);
  const wmI = gmI + anat.uniform(0.1, 0.2);
  const ventScale = anat.uniform(0.6, 1.3);
  const ventU = anat.uniform(0.07, 0.11);
  const ventV = anat.uniform(-0.06, 0.02);
  const ventRx = 0.055 * ventScale;
  const ventRy = anat.uniform(0.15, 0.22) * ventScale;
  const ventTilt = anat.uniform(0.15, 0.35);
  const texture = new ValueNoise(anat, 9);
  const fine = new ValueNoise(anat, 17);

  // Acquisition: contrast curve, smooth bias field, noise level, target brightness.
  const gamma = acq.uniform(0.8, 1.25);
  const biasX = acq.uniform(-0.2, 0.2);
  const biasY = acq.uniform(-0.2, 0.2);
  const noiseSigma = acq.uniform(0.015, 0.04);
  const targetMean = acq.uniform(0.18, 0.34);
  const lesion = lesionFor(cls, acq, fine);

  const field = new Float32Array(S * S);
  const lesionMask = new Uint8Array(S * S);
  const lesionExtent = new Uint8Array(S * S);
  const edge = 1.2 / ax; // ~1 pixel in head units: anti-aliasing width
  const out = { mask: 0 };
  const vCos = Math.cos(ventTilt);
  const vSin = Math.sin(ventTilt);
  let sum = 0;

  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const u = (dx * cos + dy * sin) / ax;
      const v = (-dx * sin + dy * cos) / ay;
      const r = Math.sqrt(u * u + v * v);
      let value = 0;
      if (r < 1.0 + edge) {
        const phi = r > 0.65 ? Math.atan2(v, u) : 0;
        const gyri = r > 0.65 ? gyriAmp * Math.sin(gyriN * phi + gyriPhase) : 0;
        const brainEdge = BRAIN_EDGE + gyri;
        const tex = 1 + 0.08 * texture.at(u, v) + 0.04 * fine.at(u * 2, v * 2);
        value = scalpI * inside(r, 1.0, edge);
        value += (skullI - value) * inside(r, SKULL_OUTER, edge);
        value += (csfI - value) * inside(r, SKULL_INNER, edge);
        const brain = inside(r, brainEdge, edge);
        value += (gmI * tex - value) * brain;
        value += (wmI * tex - value) * inside(r, brainEdge - wmDepth + 3 * gyri, edge * 3);
        // Lateral ventricles: two tilted ellipses either side of the midline, and the falx.
        const ventReach = ventU + ventRy * 1.3;
        for (
          let side = -1;
          side <= 1 && Math.abs(u) < ventReach && Math.abs(v - ventV) < ventRy * 1.3;
          side += 2
        ) {
          const lu = u - side * ventU;
          const lv = v - ventV;
          const ru = (lu * vCos - side * lv * vSin) / ventRx;
          const rv = (side * lu * vSin + lv * vCos) / ventRy;
          const q = Math.sqrt(ru * ru + rv * rv);
          if (q < 1.3) value += (csfI - value) * inside(q, 1, (edge / ventRx) * 1.5);
        }
        if (Math.abs(v) > 0.3 && Math.abs(v) < brainEdge)
          value += (csfI - value) * 0.6 * inside(Math.abs(u), 0.01, edge);
        if (lesion) {
          out.mask = 0;
          const before = value;
          value = lesion.paint(u, v, r, phi, value, brain, out);
          if (out.mask) lesionMask[y * S + x] = 1;
          // 0.03 ≈ 8 grey levels before gain: the faint outer oedema is not counted as lesion.
          if (out.mask || Math.abs(value - before) > 0.03) lesionExtent[y * S + x] = 1;
        }
        value = Math.pow(Math.max(value, 0), gamma);
        value *= 1 + biasX * (x / S - 0.5) + biasY * (y / S - 0.5);
      }
      // Magnitude images: the noise floor of the background is positive (Rician-like).
      value = Math.abs(value + noiseSigma * acq.normal());
      field[y * S + x] = value;
      sum += value;
    }
  }

  // Brightness normalisation: the image mean becomes a random target drawn independently of
  // the class, so a bright lesion's area cannot be read off the mean intensity.
  const scale = targetMean / Math.max(sum / (S * S), 1e-6);
  const pixels = new Uint8Array(S * S);
  for (let i = 0; i < field.length; i++) {
    const p = field[i]! * scale * 255;
    pixels[i] = p >= 255 ? 255 : Math.round(p);
  }
  return { size: S, pixels, lesionMask, lesionExtent, head: { cx, cy, ax, ay, angle } };
}
